"""Security checks that run with the suite: the bandit rules over the package, and safe YAML loading."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_the_bandit_rules_pass_over_the_package():
    completed = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--select", "S", "--output-format", "concise", "edgekd", "scripts"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_yaml_is_only_ever_safe_loaded():
    unsafe = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in (ROOT / "edgekd").rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "yaml.load(" in line or "yaml.unsafe_load" in line or "Loader=yaml.Loader" in line
    ]
    assert not unsafe, f"YAML loaded without safe_load at {unsafe}"
