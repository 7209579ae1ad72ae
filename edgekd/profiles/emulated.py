"""An emulated board's userland: Debian arm64 Python, numpy and LiteRT, run by qemu's user-mode emulator.

``edgekd devices emulate rpi5`` builds, under ``~/.edgekd/emulated/rpi5``, what a Raspberry
Pi 5 running Raspberry Pi OS (Debian) would run edgekd's agent with: Debian's arm64
``python3`` and the aarch64 wheels of numpy and ai-edge-litert (the same versions as the
host's), started by ``qemu-aarch64-static`` emulating a Cortex-A76. No VM image and no
binfmt registration: apt fetches into a private state folder, ``dpkg -x`` unpacks, pip
installs the wheels for the foreign platform, and the host's dpkg is never touched.

What it gives is the ARM runtime's own outputs, accuracy, memory and failures (a kernel
that rounds differently on ARM shows up here); its latency says nothing about a Pi's speed
and is marked ``emulated`` wherever it is shown.

Three traps, each handled below: qemu passes the host's ``/proc/cpuinfo`` through and
LiteRT's CPU detection crashes on it (a Cortex-A76 cpuinfo is placed in the root, which
``-L`` redirects to, and it must match ``-cpu``); qemu's default ``-cpu max`` gives wrong
int8 outputs through XNNPACK (its SME path), so the CPU is named; and without binfmt a
child process started by the emulated Python cannot exec an aarch64 binary, so the agent
is run directly, never through a shell on the emulated side.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from edgekd.errors import ProfileError, known_names
from edgekd.inputs import read_regular_file
from edgekd.validation import parse_json

EMULATED_FOLDER = "~/.edgekd/emulated"
MARKER = "edgekd-emulated.json"
# Bumped when the recipe changes, so an older build is rebuilt rather than trusted.
RECIPE_VERSION = 1
STEP_TIMEOUT_S = 900
WHEEL_PLATFORMS = (
    "manylinux_2_28_aarch64",
    "manylinux_2_27_aarch64",
    "manylinux_2_17_aarch64",
    "manylinux2014_aarch64",
)
HOST_TOOLS = ("apt-get", "dpkg", "dpkg-deb")

CORTEX_A76_CPUINFO = """\
processor\t: 0
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x4
CPU part\t: 0xd0b
CPU revision\t: 1

"""


class EmulationError(ProfileError):
    """An emulated device that cannot be built here, or is not built yet."""


@dataclass(frozen=True)
class Recipe:
    """How one board's userland is emulated: qemu's CPU model, the matching cpuinfo, and what is installed."""

    name: str
    description: str
    # qemu's -cpu: the board's core. Never "max": its SME path gives wrong int8 outputs through XNNPACK.
    cpu: str
    cpuinfo: str
    apt_packages: tuple[str, ...]
    wheels: tuple[str, ...]


RECIPES = {
    "rpi5": Recipe(
        name="rpi5",
        description="Raspberry Pi 5 (4x Cortex-A76): Debian arm64 Python, numpy and LiteRT under qemu-aarch64",
        cpu="cortex-a76",
        cpuinfo=CORTEX_A76_CPUINFO,
        apt_packages=("python3", "libstdc++6", "libgcc-s1"),
        wheels=("numpy", "ai-edge-litert"),
    ),
}


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name``; the error lists the boards that can be emulated."""
    if name not in RECIPES:
        raise EmulationError(f"no emulated device {name!r}; known: {known_names(RECIPES)}")
    return RECIPES[name]


def emulation_folder(name: str) -> Path:
    """Where the userland of ``name`` lives (``~/.edgekd/emulated/NAME``)."""
    return Path(EMULATED_FOLDER).expanduser() / name


def built(name: str) -> dict | None:
    """What the finished build of ``name`` recorded, or None when there is none (or one of an older recipe).

    The marker is read as any file from outside: a named pipe there (which a plain read would
    wait on forever), a damaged or deeply nested document, counts as no finished build.
    """
    try:
        data = read_regular_file(emulation_folder(name) / MARKER, "emulated build marker", EmulationError, 1 << 20)
        document = parse_json(data, str(emulation_folder(name) / MARKER), EmulationError, "an emulated build marker")
    except EmulationError:
        return None
    return document if isinstance(document, dict) and document.get("recipe_version") == RECIPE_VERSION else None


def _check_emulation_folder(name: str) -> None:
    """Refuse, in one line, a file (or anything but a folder) where the emulated userlands live."""
    folder = emulation_folder(name)
    blocking = next((p for p in (folder, *folder.parents) if os.path.lexists(p) and not p.is_dir()), None)
    if blocking is not None:
        raise EmulationError(
            f"{blocking} is not a folder, but edgekd keeps emulated devices in {folder}; move it away and run "
            f"`edgekd devices emulate {name}` again"
        )


def emulated_python(name: str) -> Path:
    """The launcher that runs the emulated board's Python; an EmulationError says how to build it when absent."""
    _check_emulation_folder(name)
    if built(name) is None:
        raise EmulationError(
            f"the emulated {name} is not built here (nothing complete in {emulation_folder(name)}): "
            f"run `edgekd devices emulate {name}` first"
        )
    return emulation_folder(name) / "bin" / "python3"


def check_host() -> None:
    """Refuse, in one line, a host that cannot build an emulated userland (no apt and dpkg)."""
    missing = [tool for tool in HOST_TOOLS if shutil.which(tool) is None]
    if missing:
        raise EmulationError(
            f"building an emulated device needs a Debian host with apt and dpkg; {', '.join(missing)} not found "
            "here. Benchmark a real board over SSH instead (see `edgekd devices list`)"
        )


def build(name: str, force: bool = False, say: Callable[[str], None] = lambda line: None) -> dict:
    """Build the emulated userland of ``name`` (idempotent: a finished build is kept unless ``force``).

    Returns what the build recorded: the emulated Python's machine and versions, the seconds
    and bytes it took. Nothing half-built is ever left where :func:`built` looks.
    """
    from edgekd.outputs import staged_output_folder

    recipe = get_recipe(name)
    existing = built(name)
    if existing is not None and not force:
        say(f"the emulated {name} is already built in {emulation_folder(name)}")
        return existing
    _check_emulation_folder(name)
    check_host()
    started = time.monotonic()
    target = emulation_folder(name)
    target.parent.mkdir(parents=True, exist_ok=True)
    # A folder without a marker is an unfinished or outdated build: replaced like any other.
    with staged_output_folder(target, force=True, kind=None) as staging:
        work = staging / "work"
        root = staging / "root"
        for folder in (work / "state" / "lists" / "partial", work / "archives" / "partial", root / "proc"):
            folder.mkdir(parents=True)
        say("fetching qemu-aarch64-static and Debian's arm64 Python (apt, into a private state folder)")
        downloaded = _fetch_debs(recipe, work)
        _unpack(work, root, staging)
        (root / "proc" / "cpuinfo").write_text(recipe.cpuinfo)
        say("fetching the aarch64 wheels of " + ", ".join(recipe.wheels))
        downloaded += _install_wheels(recipe, root, work)
        _write_launchers(recipe, staging)
        shutil.rmtree(work)
        say("checking the emulated Python")
        document = {
            "recipe_version": RECIPE_VERSION,
            "recipe": recipe.name,
            "qemu_cpu": recipe.cpu,
            **_smoke_test(staging / "bin" / "python3"),
            "downloaded_bytes": downloaded,
            "installed_bytes": _size(staging),
            "seconds": round(time.monotonic() - started, 1),
        }
        (staging / MARKER).write_text(json.dumps(document, indent=2) + "\n")
    return document


def _run(argv: list[str], what: str, env: dict | None = None, cwd: Path | None = None) -> str:
    try:
        completed = subprocess.run(  # noqa: S603 - fixed argv built here; no shell
            argv,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=STEP_TIMEOUT_S,
            check=False,
            env={**os.environ, **(env or {})},
            cwd=cwd,
        )
    except subprocess.TimeoutExpired:
        raise EmulationError(f"building the emulated device: {what} took more than {STEP_TIMEOUT_S} s") from None
    if completed.returncode != 0:
        lines = [line for line in (completed.stderr + completed.stdout).splitlines() if line.strip()]
        detail = next((line for line in reversed(lines) if line.startswith("E:")), lines[-1] if lines else "no output")
        raise EmulationError(f"building the emulated device: {what} failed: {' '.join(detail.split())[:240]}")
    return completed.stdout


def _fetch_debs(recipe: Recipe, work: Path) -> int:
    """qemu for this host's architecture and the board's Debian packages, into ``work/archives``; bytes fetched."""
    host_arch = _run(["dpkg", "--print-architecture"], "reading the host's architecture").strip()
    config = work / "apt.conf"
    # The host's own sources, a private state: the host's dpkg architectures and package lists stay as they were.
    config.write_text(
        f'Dir::State "{work / "state"}";\n'
        f'Dir::State::status "{work / "state" / "status"}";\n'
        f'Dir::Cache "{work / "cache"}";\n'
        f'Dir::Cache::archives "{work / "archives"}";\n'
        'Dir::Etc::sourcelist "/etc/apt/sources.list";\n'
        'Dir::Etc::sourceparts "/etc/apt/sources.list.d";\n'
        'APT::Architecture "arm64";\n'
        f'APT::Architectures {{ "arm64"; "{host_arch}"; }};\n'
    )
    (work / "state" / "status").write_text("")
    env = {"APT_CONFIG": str(config), "DEBIAN_FRONTEND": "noninteractive"}
    # apt drops to its _apt user to download, which cannot write a user's folder: stay the invoking user.
    quiet = ["-q", "-o", "APT::Sandbox::User=" + _user()]
    _run(["apt-get", *quiet, "update"], "apt-get update (arm64 package lists)", env)
    _run(
        ["apt-get", *quiet, "-y", "--no-install-recommends", "install", "--download-only", *recipe.apt_packages],
        "downloading the arm64 packages",
        env,
    )
    _run(["apt-get", *quiet, "download", f"qemu-user-static:{host_arch}"], "downloading qemu-user-static", env, work)
    fetched = [*work.glob("*.deb"), *(work / "archives").glob("*.deb"), *(work / "state" / "lists").glob("*_Packages*")]
    return sum(path.stat().st_size for path in fetched)


def _unpack(work: Path, root: Path, staging: Path) -> None:
    """Each arm64 package into ``root``; only ``qemu-aarch64-static`` out of qemu (installing it would register
    binfmt handlers)."""
    for deb in sorted((work / "archives").glob("*.deb")):
        _run(["dpkg-deb", "-x", str(deb), str(root)], f"unpacking {deb.name}")
    (qemu,) = work.glob("qemu-user-static_*.deb")
    _run(["dpkg-deb", "-x", str(qemu), str(work / "qemu")], "unpacking qemu-user-static")
    (staging / "qemu").mkdir()
    shutil.move(work / "qemu" / "usr" / "bin" / "qemu-aarch64-static", staging / "qemu" / "qemu-aarch64-static")


def _python_version(root: Path) -> str:
    found = sorted(root.glob("usr/bin/python3.[0-9]*"), key=lambda path: len(path.name))
    if not found:
        raise EmulationError("building the emulated device: Debian's python3 package installed no python3.X")
    return found[0].name.removeprefix("python")


def _install_wheels(recipe: Recipe, root: Path, work: Path) -> int:
    """The host's versions of the recipe's wheels, for aarch64 and the board's Python, into its dist-packages."""
    python = _python_version(root)
    tag = python.replace(".", "")
    pinned = [f"{name}=={_host_version(name)}" for name in recipe.wheels]
    platform_flags = ["--only-binary=:all:", "--python-version", python, "--implementation", "cp"]
    platform_flags += ["--abi", f"cp{tag}", *[f"--platform={p}" for p in (*WHEEL_PLATFORMS, "any")]]
    wheels = work / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    _run([*pip, "download", *platform_flags, "-d", str(wheels), *pinned], "downloading the aarch64 wheels")
    site = root / "usr" / "lib" / "python3" / "dist-packages"
    files = [str(path) for path in sorted(wheels.glob("*.whl"))]
    _run([*pip, "install", "--no-deps", *platform_flags, "--target", str(site), *files], "installing the wheels")
    return sum(path.stat().st_size for path in wheels.glob("*.whl"))


def _host_version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        raise EmulationError(f"building the emulated device: {package} is not installed on the host") from None


def _write_launchers(recipe: Recipe, staging: Path) -> None:
    """``bin/python3`` starts the emulated Python; ``bin/ssh-command`` serves it behind an SSH forced command."""
    python = _python_version(staging / "root")
    bin_folder = staging / "bin"
    bin_folder.mkdir()
    # Paths are found from the script's own place: the folder is built in staging and renamed into place.
    launcher = (
        "#!/bin/sh\n"
        f"# edgekd's emulated {recipe.name}: Debian arm64 Python under qemu-aarch64-static (-cpu {recipe.cpu}).\n"
        'HERE=$(cd "$(dirname "$0")/.." && pwd)\n'
        f'exec "$HERE/qemu/qemu-aarch64-static" -cpu {shlex.quote(recipe.cpu)} -L "$HERE/root" '
        f'"$HERE/root/usr/bin/python{python}" "$@"\n'
    )
    command = (
        "#!/bin/sh\n"
        "# For an authorized_keys command=: the client's command runs with the emulated python3 first on PATH.\n"
        'HERE=$(cd "$(dirname "$0")" && pwd)\n'
        'PATH="$HERE:$PATH" exec bash --norc --noprofile -c "$SSH_ORIGINAL_COMMAND"\n'
    )
    for name, text in (("python3", launcher), ("ssh-command", command)):
        (bin_folder / name).write_text(text)
        (bin_folder / name).chmod(0o755)


SMOKE = (
    "import json, platform, sys, numpy, ai_edge_litert, ai_edge_litert.interpreter; "
    "print(json.dumps({'machine': platform.machine(), 'python': platform.python_version(), "
    "'numpy': numpy.__version__, 'ai_edge_litert': getattr(ai_edge_litert, '__version__', 'unknown')}))"
)


def _smoke_test(python: Path) -> dict:
    answer = json.loads(_run([str(python), "-c", SMOKE], "starting the emulated Python").strip().splitlines()[-1])
    if answer.get("machine") != "aarch64":
        raise EmulationError(f"building the emulated device: its Python reports {answer.get('machine')!r}, not aarch64")
    return {"emulated": answer, "host_machine": platform.machine()}


def _size(folder: Path) -> int:
    return sum(path.lstat().st_size for path in folder.rglob("*") if path.is_file() and not path.is_symlink())


def _user() -> str:
    import getpass

    return getpass.getuser()
