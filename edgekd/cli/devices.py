"""``edgekd devices list|show``: the device profiles edgekd knows."""

from __future__ import annotations

import click

from edgekd.cli.common import EdgekdGroup, echo, emit_json, force_option, json_option
from edgekd.results.table import format_table
from edgekd.untrusted import for_terminal


@click.group(cls=EdgekdGroup)
def devices() -> None:
    """Device profiles: built-in ones, ./devices, and the folder named by $EDGEKD_DEVICES.

    \b
    Examples:
      edgekd devices list
      edgekd devices show rpi4
      edgekd devices check my-pi
      edgekd devices emulate rpi5
    """


@devices.command("list")
@json_option
def list_devices(as_json: bool) -> None:
    """List every profile with its transport and runtime.

    \b
    Example:
      edgekd devices list
    """
    from edgekd.bench.registry import has_runner
    from edgekd.profiles.loader import discover_all

    entries, problems = discover_all()
    # A broken profile is reported, not allowed to hide the others.
    for problem in problems.values():
        echo(f"edgekd: warning: skipped a profile: {for_terminal(problem)}", err=True)
    if as_json:
        emit_json(
            [
                {"name": n, "origin": e.origin, "path": str(e.path), **e.profile.model_dump(mode="json")}
                for n, e in entries.items()
            ]
        )
        return
    rows = [
        [
            name,
            e.profile.display_name,
            e.profile.kind,
            e.profile.transport.type.value,
            "yes" if has_runner(e.profile) else ("export" if e.profile.is_microcontroller else "not yet"),
            ",".join(d.value for d in e.profile.runtime.delegates),
            e.origin,
        ]
        for name, e in sorted(entries.items())
    ]
    echo(format_table(("name", "device", "kind", "transport", "runner", "delegates", "origin"), rows))


@devices.command("show")
@click.argument("name")
@json_option
def show_device(name: str, as_json: bool) -> None:
    """Show one profile in full.

    \b
    Example:
      edgekd devices show rpi4
    """
    import yaml

    from edgekd.profiles.loader import get_profile

    entry = get_profile(name)
    document = entry.profile.model_dump(mode="json")
    if as_json:
        emit_json(document)
        return
    echo(for_terminal(f"# {entry.profile.display_name} ({entry.origin}: {entry.path})"))
    echo(yaml.safe_dump(document, sort_keys=False).rstrip())


@devices.command("check")
@click.argument("name")
@json_option
def check_device(name: str, as_json: bool) -> None:
    """Check that a device is reachable and has a Python TFLite runtime, by running the agent's probe there.

    \b
    Example:
      edgekd devices check rpi4
    """
    from edgekd.bench.registry import get_runner
    from edgekd.profiles.loader import get_profile

    entry = get_profile(name)
    environment = get_runner(entry.profile).probe(entry.profile)["environment"]
    if as_json:
        emit_json({"device": name, "reachable": True, **environment})
        return
    # What the device says about itself is shown as text, whatever it holds.
    echo(
        for_terminal(
            f"{name}: reachable over {entry.profile.transport.type.value}; {environment['runtime']} "
            f"{environment['runtime_version']}, Python {environment['python']}, numpy {environment['numpy_version']}, "
            f"{environment['machine']} {environment['system']} {environment['release']}, {environment['cpu_count']} CPUs"
        )
    )


@devices.command("emulate")
@click.argument("name")
@force_option
@json_option
def emulate_device(name: str, force: bool, as_json: bool) -> None:
    """Build an emulated board's userland on this host (a Debian host: apt, dpkg), once; its profile is
    NAME-emulated.

    Debian's arm64 Python with the aarch64 numpy and LiteRT wheels, run by qemu's user-mode
    emulator as the board's CPU, in ~/.edgekd/emulated/NAME (about 110 MB of downloads, 210 MB
    on disk). Outputs, accuracy, memory and failures on it are the ARM runtime's own; its
    latency is the emulator's and is marked emulated. A finished build is kept (--force rebuilds).

    \b
    Example:
      edgekd devices emulate rpi5 && edgekd bench student_int8.tflite --device rpi5-emulated --accuracy mnist1d
    """
    from edgekd.profiles.emulated import build, emulation_folder

    document = build(name, force=force, say=lambda line: echo(f"edgekd: {line}", err=True))
    if as_json:
        emit_json({"name": name, "folder": str(emulation_folder(name)), **document})
        return
    emulated = document["emulated"]
    echo(
        f"{name}-emulated: Python {emulated['python']} ({emulated['machine']}), numpy {emulated['numpy']}, "
        f"ai_edge_litert {emulated['ai_edge_litert']} under qemu-aarch64-static -cpu {document['qemu_cpu']}, "
        f"in {emulation_folder(name)}"
    )


@devices.command("trust")
@click.argument("name")
@click.option("--fingerprint", required=True, help="The host key's SHA256 fingerprint, read on the device itself.")
def trust_device(name: str, fingerprint: str) -> None:
    """Trust an SSH device's host key after checking it against the fingerprint you read on the device.

    On the device: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub

    \b
    Example:
      edgekd devices trust rpi4 --fingerprint SHA256:abc...
    """
    from edgekd.profiles.loader import get_profile
    from edgekd.transport.host_keys import trust_host_key

    entry = get_profile(name)
    line = trust_host_key(entry.profile, fingerprint)
    echo(f"trusted {line.split()[0]} ({line.split()[1]}) in {entry.profile.transport.known_hosts}")
