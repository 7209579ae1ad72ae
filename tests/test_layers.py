"""The floors hold: `lint-imports` passes over edgekd with the contracts in .importlinter.

A new import from a lower floor to a higher one (a stage importing the pipeline config, a
library module importing click or the API) fails here, the day it is written. The floors and
the reason for each are in docs/architecture.md; ``python scripts/import_layers.py`` lists
the upward imports and import circles.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]

# lint-imports, run by the interpreter running the tests (its console script may be another's).
LINT_IMPORTS = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"


def test_lint_imports_keeps_every_contract():
    # PYTHONPATH: the checkout under test, not an installed edgekd elsewhere.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    completed = subprocess.run(
        [sys.executable, "-c", LINT_IMPORTS, "--no-cache"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout[-6000:] + completed.stderr[-2000:]
    assert "BROKEN" not in completed.stdout
    # Every contract ran: the five in .importlinter.
    assert completed.stdout.count(" KEPT") == 5, completed.stdout


def test_no_import_runs_upward_and_every_circle_is_a_registry():
    # Finer than the contracts (which see packages): module to module, and the circles inside a floor.
    # A registry importing the built-ins that register into it is the one circle allowed.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    completed = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "import_layers.py"), "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    found = json.loads(completed.stdout)
    assert found["upward_imports"] == []
    assert [group["modules"] for group in found["circles"] if not group["registry"]] == []
    assert completed.returncode == 0, completed.stderr[-2000:]
