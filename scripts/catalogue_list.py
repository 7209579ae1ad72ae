#!/usr/bin/env python3
"""Rewrite the bad-input catalogue's list in docs/reliability.md from tests/test_bad_inputs.py (run after adding a case)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "reliability.md"


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from tests.test_bad_inputs import CATALOGUE

    groups: dict[str, list[str]] = {}
    for case in CATALOGUE:
        groups.setdefault(case[0].split(":")[0], []).append(case[0])
    listing = "".join(
        f"- {command} ({len(names)}):\n" + "".join(f"  - `{name}`\n" for name in names)
        for command, names in groups.items()
    )
    text = PAGE.read_text()
    text = re.sub(r"catalogue of \d+ bad inputs", f"catalogue of {len(CATALOGUE)} bad inputs", text)
    # The list runs from the first "- command (N):" line to the blank line after the last case.
    text = re.sub(r"^- \w+ \(\d+\):\n(?:.*\n)*?(?=\n)", listing, text, count=1, flags=re.MULTILINE)
    PAGE.write_text(text)
    print(f"{len(CATALOGUE)} cases in {len(groups)} commands written to {PAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
