"""The installed package holds every module: a non-editable install ships only what setup.cfg lists."""

from __future__ import annotations

import configparser
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_every_subpackage_is_listed_for_installation():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    listed = {line.strip() for line in config["options"]["packages"].splitlines() if line.strip()}
    on_disk = {".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / "edgekd").rglob("__init__.py")}
    assert on_disk <= listed, f"setup.cfg [options] packages lacks {sorted(on_disk - listed)}"
