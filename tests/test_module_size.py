"""One job per module: no module in edgekd/ over 400 lines, except the on-device agent (one file by design)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).parents[1]
MAX_LINES = 400
# The agent is copied to the device as one file and runs there alone.
ONE_FILE = {"edgekd/bench/agent.py"}


def test_no_module_is_over_400_lines():
    over = {}
    for path in sorted((ROOT / "edgekd").rglob("*.py")):
        name = path.relative_to(ROOT).as_posix()
        lines = len(path.read_text().splitlines())
        if name in ONE_FILE:
            continue
        if lines > MAX_LINES:
            over[name] = lines
    assert not over, f"modules over {MAX_LINES} lines (split them by job): {over}"
