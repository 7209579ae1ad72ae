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


def test_subprocesses_import_this_checkout_not_an_installed_copy(tmp_path):
    import subprocess
    import sys

    completed = subprocess.run(
        [sys.executable, "-c", "import edgekd; print(edgekd.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(completed.stdout.strip()).resolve() == (ROOT / "edgekd" / "__init__.py").resolve()


def test_importing_edgekd_and_its_api_does_not_load_tensorflow():
    import subprocess
    import sys

    code = (
        "import sys, edgekd\n"
        "api = (edgekd.distill, edgekd.quantize, edgekd.benchmark, edgekd.run, edgekd.demo, edgekd.EdgekdError)\n"
        "assert all(callable(f) for f in api[:5])\n"
        "print('tensorflow' in sys.modules)\n"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == "False"


def test_the_callable_packages_show_their_function_and_pickle_by_name():
    import inspect
    import pickle

    import edgekd

    assert "teacher" in inspect.signature(edgekd.distill).parameters
    assert "mode" not in inspect.signature(edgekd.distill).parameters
    assert "out" in inspect.signature(edgekd.quantize).parameters
    assert pickle.loads(pickle.dumps(edgekd.quantize)) is edgekd.quantize
