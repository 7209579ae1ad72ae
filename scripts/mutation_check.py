#!/usr/bin/env python3
"""Break edgekd on purpose, one named mutant at a time, and check that the tests catch every one.

Each mutant is a deliberate bug of the kind that leaves a product running and its claims
false (a teacher whose outputs no longer belong to its inputs, a KD loss without its T²
factor, a scratch control trained on fewer steps...). It is written as exact text
replacements in one file of the package; each replacement must match exactly once, so a
target that has moved or changed fails this script loudly instead of testing nothing.

For each mutant the script copies the checkout to a temporary folder, applies the mutant
there, and runs the tests named for it with the copy first on the import path. The mutant is
*killed* when those tests fail, and *survives* when they pass. Every mutant must be killed:
the exit status is 0 only then. Before the mutants, the same tests run once on an unmutated
copy (a test that fails anyway kills nothing); ``--skip-baseline`` leaves that out where the
caller has just run them (the test suite does).

    python scripts/mutation_check.py                # every mutant, its fast tests (what CI runs)
    python scripts/mutation_check.py --end-to-end   # instead, the end-to-end tests that catch it too
    python scripts/mutation_check.py --list         # the mutants, their targets and tests
    python scripts/mutation_check.py --check        # only that every patch still applies
    python scripts/mutation_check.py kd-without-t-squared int8-calibrated-on-one-sample

The mutants and their last results are listed in docs/testing.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Everything a test run needs; build outputs, caches and earlier runs stay behind.
IGNORED = shutil.ignore_patterns(
    ".git", "__pycache__", ".pytest_cache", "*.egg-info", "build", "dist", "runs", ".venv", "venv"
)
TEST_TIMEOUT_S = 900


@dataclass(frozen=True)
class Patch:
    old: str
    new: str


@dataclass(frozen=True)
class Mutant:
    """A deliberate bug: replacements in one file, and the tests that must catch it."""

    name: str
    breaks: str
    path: str
    patches: tuple[Patch, ...]
    # The quickest tests that should kill it: what CI runs.
    tests: tuple[str, ...]
    # Slower end-to-end tests that kill it on their own as well (``--end-to-end``); empty where
    # only a unit test can see the bug (the quick demo distils at T=1, where T² is 1).
    end_to_end: tuple[str, ...] = field(default=())


def _negated_weights(mode: str, change: str) -> Patch:
    """Conversion in ``mode`` of the model with ``change`` applied to every weight (restored afterwards)."""
    return Patch(
        "            result = configured_converter(model, mode, generator, options).convert()\n",
        "            weights = model.get_weights()\n"
        f"            if mode == {mode!r}:\n"
        f"                model.set_weights([{change} for w in weights])\n"
        "            try:\n"
        "                result = configured_converter(model, mode, generator, options).convert()\n"
        "            finally:\n"
        "                model.set_weights(weights)\n",
    )


MUTANTS = (
    Mutant(
        "teacher-logits-shuffled",
        "the cached teacher logits are shuffled, so they no longer belong to their inputs",
        "edgekd/distill/teacher_outputs.py",
        (
            Patch(
                "        targets[TEACHER_LOGITS] = np.asarray(ensemble_logits(logits, self.weights, temperature), "
                "dtype=np.float32)\n",
                "        targets[TEACHER_LOGITS] = np.random.default_rng(0).permutation(\n"
                "            np.asarray(ensemble_logits(logits, self.weights, temperature), dtype=np.float32)\n"
                "        )\n",
            ),
        ),
        ("tests/test_distill.py::test_cached_teacher_logits_belong_to_their_inputs",),
        ("tests/test_cli.py::test_the_distilled_student_learns_and_is_not_worse_than_its_control",),
    ),
    Mutant(
        "float16-weights-negated",
        "float16 conversion of the model with every weight negated",
        "edgekd/quantize/convert.py",
        (_negated_weights("float16", "-w"),),
        ("tests/test_quantize.py::test_every_mode_converts_to_a_tflite_that_predicts_like_its_keras_model[float16]",),
        ("tests/test_quantize_cli.py::test_mode_all_writes_every_mode_and_compares_them",),
    ),
    Mutant(
        "dynamic-weights-zeroed",
        "dynamic-range conversion of the model with every weight zeroed",
        "edgekd/quantize/convert.py",
        (_negated_weights("dynamic", "w * 0"),),
        ("tests/test_quantize.py::test_every_mode_converts_to_a_tflite_that_predicts_like_its_keras_model[dynamic]",),
        ("tests/test_quantize_cli.py::test_mode_all_writes_every_mode_and_compares_them",),
    ),
    Mutant(
        "augmentation-off",
        "shift and mixup return their input unchanged",
        "edgekd/distill/augment.py",
        (
            Patch(
                "def _shift(x, labels, seed, max_fraction: float = 0.1):\n",
                "def _shift(x, labels, seed, max_fraction: float = 0.1):\n    return x, labels\n",
            ),
            Patch(
                "def _mixup(x, labels, seed, alpha: float = 1.0):\n",
                "def _mixup(x, labels, seed, alpha: float = 1.0):\n    return x, labels\n",
            ),
        ),
        ("tests/test_augment.py",),
    ),
    Mutant(
        "kd-without-t-squared",
        "the KD loss's soft term without Hinton's T² factor",
        "edgekd/distill/losses/response.py",
        (Patch("        soft = soft * temperature**2\n", "        soft = soft\n"),),
        (
            "tests/test_losses.py::test_kd_matches_hand_computed_value_with_t_squared",
            "tests/test_losses.py::test_kd_soft_term_scales_with_t_squared",
        ),
    ),
    Mutant(
        "control-fewer-steps",
        "the scratch control trains on half the distilled student's optimizer steps",
        "edgekd/distill/distiller.py",
        (
            Patch(
                '            control_model, Recipe(CONTROL, None), budget, "student_scratch", "scratch control", reporter\n',
                "            control_model,\n            Recipe(CONTROL, None),\n"
                "            type(budget)(budget.steps // 2, budget.batch_size, budget.learning_rate),\n"
                '            "student_scratch",\n            "scratch control",\n            reporter,\n',
            ),
        ),
        ("tests/test_distill.py::test_the_scratch_control_trains_on_the_distilled_students_budget",),
        ("tests/test_cli.py::test_the_scratch_control_has_the_distilled_students_budget",),
    ),
    Mutant(
        "int8-calibrated-on-one-sample",
        "int8 calibration sees only the first representative sample",
        "edgekd/quantize/convert.py",
        (
            Patch(
                "    samples = representative.astype(np.float32)\n",
                "    samples = representative[:1].astype(np.float32)\n",
            ),
        ),
        ("tests/test_quantize.py::test_int8_calibration_covers_every_representative_sample",),
        (
            "tests/test_cli.py::test_int8_stays_within_its_band_of_the_float_model",
            "tests/test_quantize.py::test_int8_is_fully_integer_and_within_a_few_points_of_float",
        ),
    ),
    Mutant(
        "p99-is-the-mean",
        "the latency statistics report the mean of the agent's samples as their p99",
        "edgekd/bench/stats.py",
        (Patch("        p99=float(p99),\n", "        p99=float(samples.mean()),\n"),),
        ("tests/test_bench.py::test_latency_stats_on_known_samples",),
    ),
    Mutant(
        "atomic-writer-renames-first",
        "the atomic writer moves the temporary file into place before writing into it",
        "edgekd/artifacts.py",
        (
            Patch(
                '        with os.fdopen(fd, "wb") as handle:\n'
                "            handle.write(data)\n"
                "            handle.flush()\n"
                "            os.fsync(handle.fileno())\n"
                "        if replace:\n"
                "            os.replace(tmp_name, path)\n",
                "        if replace:\n"
                "            os.replace(tmp_name, path)\n"
                '        with os.fdopen(fd, "wb") as handle:\n'
                "            handle.write(data)\n"
                "            handle.flush()\n"
                "            os.fsync(handle.fileno())\n"
                "        if replace:\n"
                "            pass\n",
            ),
        ),
        (
            "tests/test_artifacts.py::test_a_write_that_fails_before_it_is_on_disk_keeps_the_old_file",
            "tests/test_faults.py::test_a_full_disk_during_a_model_write_keeps_the_old_model",
        ),
        ("tests/test_faults.py::test_a_full_disk_during_a_model_write_keeps_the_old_model",),
    ),
)


class PatchError(Exception):
    """A mutant's target text is not in the file exactly once."""


def mutated_text(mutant: Mutant, text: str) -> str:
    """``text`` with every patch of ``mutant`` applied; each target must occur exactly once."""
    for number, patch in enumerate(mutant.patches, start=1):
        found = text.count(patch.old)
        if found != 1:
            raise PatchError(
                f"{mutant.name}: patch {number} of {len(mutant.patches)} finds its target {found} times in "
                f"{mutant.path} (expected once); the code moved: update the mutant in scripts/mutation_check.py\n"
                f"target:\n{patch.old}"
            )
        text = text.replace(patch.old, patch.new)
    return text


def check_patches(mutants) -> None:
    """Raise PatchError unless every patch of every mutant applies to this checkout."""
    for mutant in mutants:
        mutated_text(mutant, (ROOT / mutant.path).read_text())


def scratch_copy(into: Path, mutant: Mutant | None) -> Path:
    copy = into / "edgekd-checkout"
    shutil.copytree(ROOT, copy, ignore=IGNORED)
    if mutant is not None:
        target = copy / mutant.path
        target.write_text(mutated_text(mutant, target.read_text()))
    return copy


def environment_for(copy: Path) -> dict[str, str]:
    """The environment of a test run on ``copy``: its code first, never this checkout's or an installed one."""
    path = [str(copy)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != str(ROOT)]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(path)}


def check_imports_copy(copy: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-c", "import edgekd; print(edgekd.__file__)"],
        cwd=copy,
        env=environment_for(copy),
        capture_output=True,
        text=True,
        check=True,
    )
    imported = Path(completed.stdout.strip()).resolve()
    if imported != (copy / "edgekd" / "__init__.py").resolve():
        raise SystemExit(f"the scratch copy imports edgekd from {imported}, not from the copy; nothing would be tested")


def run_tests(copy: Path, tests: tuple[str, ...]) -> tuple[int, str, float]:
    """pytest on ``tests`` inside ``copy``: (exit status, its output, seconds)."""
    started = time.monotonic()
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests],
        cwd=copy,
        env=environment_for(copy),
        capture_output=True,
        text=True,
        timeout=TEST_TIMEOUT_S,
        check=False,
    )
    return completed.returncode, completed.stdout + completed.stderr, time.monotonic() - started


def tail(output: str, lines: int = 15) -> str:
    return "\n".join(output.strip().splitlines()[-lines:])


def first_failure(output: str) -> str | None:
    """The failing test and its first assertion line, as pytest printed them: what killed the mutant."""
    failed = next((line for line in output.splitlines() if line.startswith("FAILED ")), None)
    error = next((line for line in output.splitlines() if line.startswith("E ")), None)
    if failed is None:
        return None
    return failed.removeprefix("FAILED ").split(" - ")[0] + (f": {error[1:].strip()[:200]}" if error else "")


def verdict(returncode: int) -> str:
    # pytest: 0 all passed, 1 some failed. Anything else (collection errors, no tests found,
    # an interruption) says nothing about the mutant, so it is an error, not a kill.
    return {0: "survived", 1: "killed"}.get(returncode, "error")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="mutants to run (default: all)")
    parser.add_argument(
        "--end-to-end", action="store_true", help="run each mutant's end-to-end tests instead of its fast ones"
    )
    parser.add_argument("--skip-baseline", action="store_true", help="do not first run the tests unmutated")
    parser.add_argument("--check", action="store_true", help="only check that every patch applies")
    parser.add_argument("--list", action="store_true", help="list the mutants and their tests")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)

    known = {mutant.name: mutant for mutant in MUTANTS}
    unknown = [name for name in args.names if name not in known]
    if unknown:
        parser.error(f"unknown mutant {unknown[0]!r}; known: {', '.join(known)}")
    chosen = [known[name] for name in args.names] if args.names else list(MUTANTS)
    if args.end_to_end:
        chosen = [mutant for mutant in chosen if mutant.end_to_end]
    if args.list:
        for mutant in chosen:
            print(f"{mutant.name}: {mutant.breaks} ({mutant.path})")
            for test in mutant.tests:
                print(f"    {test}")
            for test in mutant.end_to_end:
                print(f"    {test} (end to end)")
        return 0
    try:
        check_patches(chosen)
    except PatchError as exc:
        print(f"mutation_check: {exc}", file=sys.stderr)
        return 2
    if args.check:
        print(f"all {len(chosen)} mutants apply")
        return 0

    def tests_of(mutant: Mutant) -> tuple[str, ...]:
        return mutant.end_to_end if args.end_to_end else mutant.tests

    with tempfile.TemporaryDirectory(prefix="edgekd-mutants-") as scratch:
        if not args.skip_baseline:
            copy = scratch_copy(Path(scratch) / "baseline", None)
            check_imports_copy(copy)
            every_test = tuple(dict.fromkeys(test for mutant in chosen for test in tests_of(mutant)))
            returncode, output, seconds = run_tests(copy, every_test)
            if returncode != 0:
                print(f"mutation_check: the tests fail without any mutant ({seconds:.0f} s):", file=sys.stderr)
                print(tail(output), file=sys.stderr)
                return 2
            print(f"baseline: {len(every_test)} test selections pass unmutated ({seconds:.0f} s)", file=sys.stderr)
        results = []
        for mutant in chosen:
            copy = scratch_copy(Path(scratch) / mutant.name, mutant)
            check_imports_copy(copy)
            returncode, output, seconds = run_tests(copy, tests_of(mutant))
            result = {"mutant": mutant.name, "result": verdict(returncode), "seconds": round(seconds, 1)}
            results.append(result | {"tests": list(tests_of(mutant)), "killed_by": first_failure(output)})
            print(f"{mutant.name}: {result['result']} ({seconds:.0f} s)", file=sys.stderr)
            if result["result"] == "killed":
                print(f"    by {first_failure(output)}", file=sys.stderr)
            else:
                print(tail(output), file=sys.stderr)
            shutil.rmtree(copy.parent, ignore_errors=True)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        width = max(len(r["mutant"]) for r in results)
        for r in results:
            print(f"{r['mutant'].ljust(width)}  {r['result']:8}  {r['seconds']:6.1f} s")
    survivors = [r["mutant"] for r in results if r["result"] != "killed"]
    if survivors:
        print(f"mutation_check: not killed: {', '.join(survivors)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
