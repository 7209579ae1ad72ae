"""The mutation check: every deliberate breakage in scripts/mutation_check.py is caught by the tests named for it."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "mutation_check.py"


def mutation_check():
    spec = importlib.util.spec_from_file_location("mutation_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def test_every_mutant_applies_names_real_tests_and_is_documented():
    module = mutation_check()
    module.check_patches(module.MUTANTS)
    documented = (ROOT / "docs" / "testing.md").read_text()
    for mutant in module.MUTANTS:
        assert f"`{mutant.name}`" in documented, f"docs/testing.md does not list {mutant.name}"
        for node in (*mutant.tests, *mutant.end_to_end):
            path, _, test = node.partition("::")
            source = (ROOT / path).read_text()
            assert not test or re.search(rf"^def {re.escape(test.split('[')[0])}\(", source, re.M), node
    # The breakages the product's claims rest on, each named once.
    names = [mutant.name for mutant in module.MUTANTS]
    assert len(set(names)) == len(names)
    assert {
        "teacher-logits-shuffled",
        "float16-weights-negated",
        "augmentation-off",
        "kd-without-t-squared",
        "control-fewer-steps",
        "int8-calibrated-on-one-sample",
        "p99-is-the-mean",
        "atomic-writer-renames-first",
    } <= set(names)


def test_a_patch_whose_target_moved_fails_loudly():
    module = mutation_check()
    moved = module.Mutant("moved", "nothing", "edgekd/artifacts.py", (module.Patch("no such text\n", "x"),), ())
    with pytest.raises(module.PatchError, match="finds its target 0 times in edgekd/artifacts.py"):
        module.check_patches([moved])


@pytest.mark.slow
def test_every_mutant_is_killed():
    # --skip-baseline: this same suite runs every one of these tests on the unmutated code.
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), "--skip-baseline", "--json"],
        capture_output=True,
        text=True,
        timeout=1500,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    results = json.loads(completed.stdout)
    assert [r["mutant"] for r in results] == [m.name for m in mutation_check().MUTANTS]
    assert all(r["result"] == "killed" and r["killed_by"] for r in results), results
