"""``edgekd devices list|show``: the device profiles edgekd knows."""

from __future__ import annotations

from pathlib import Path

import click

from edgekd.cli.common import EdgekdGroup, db_option, echo, emit_json, force_option, json_option
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


@devices.command("calibrate")
@click.argument("name")
@click.option(
    "--from",
    "runs",
    multiple=True,
    required=True,
    help="A run id, `latest`, or a results.json (or run folder) whose benchmarks measured NAME (repeatable).",
)
@db_option
@json_option
def calibrate(name: str, runs: tuple[str, ...], db, as_json: bool) -> None:
    """Fit NAME's latency model from your own benchmark runs; estimates on NAME then stand on your measurements.

    Each run's measured p50 on NAME, with the per-class workload its model record holds, is a
    point; the fit keeps the relative op costs of NAME's kernel library from the built-in
    calibration and fits NAME's per-invoke floor and per-precision scale, with the error of each
    measured model predicted from the others. It is stored as yours in ~/.edgekd/calibration
    ($EDGEKD_CALIBRATION), never over the built-in data; nothing is written when the runs cannot
    support a fit.

    \b
    Example:
      edgekd bench runs/demo/*.tflite --device rpi4
      edgekd devices calibrate rpi4 --from latest
    """
    import statistics

    from edgekd.cli.results import _load
    from edgekd.profiles.loader import get_profile
    from edgekd.profiles.user_calibration import fit_user, measured_points, save

    profile = get_profile(name).profile
    documents = [_load(ref, db) for ref in runs]
    fitted = fit_user(profile, measured_points(profile, documents), [ref for ref, _ in documents])
    path = save(fitted)
    if as_json:
        emit_json({**fitted.as_dict(), "path": str(path)})
        return
    errors = fitted.errors
    held = (
        f"held-out error median {100 * statistics.median(errors):.0f}%, worst {100 * max(errors):.0f}% "
        f"over {len(errors)} prediction(s)"
        if errors
        else "no held-out prediction (too few points)"
    )
    floor = f"floor {fitted.floor_ms:.3g} ms" if fitted.floor_fitted else "floor not fitted (fewer than 3 points)"
    scales = ", ".join(f"{p} scale {v:.4g}" for p, v in sorted(fitted.scales.items()))
    echo(f"Calibrated {name} from {fitted.points} measured point(s): {floor}, {scales}; {held}.")
    echo(f"Stored as yours: {path} (the built-in calibration is unchanged).")


@devices.command("calibration")
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    default=None,
    help="A folder holding measurements.yaml and models.yaml (default: the built-in calibration data).",
)
@json_option
def calibration(data, as_json: bool) -> None:
    """Show the calibration behind device estimates: per device, its published points and held-out error.

    Every calibration device is fitted (floor and per-precision scale; relative op costs shared
    within a kernel library), then each published model is left out in turn and predicted from
    the rest: the median and worst error of those predictions is what an estimate's interval
    stands on. --data checks your own points in the same grammar before you add them.

    \b
    Example:
      edgekd devices calibration
    """
    from edgekd.profiles.calibration import builtin_calibration, load_calibration
    from edgekd.profiles.validation import device_table

    calibration_data = load_calibration(data) if data is not None else builtin_calibration()
    rows, held_out = device_table(calibration_data)
    if as_json:
        emit_json({"devices": rows, "held_out": [vars(v) for v in held_out]})
        return

    def percent(value):
        return f"{100 * value:.0f}%" if value is not None else "n/a"

    table = [
        [r["device"], r["library"], r["points"], r["floor"], r["held_out"], percent(r["median_error"]),
         percent(r["worst_error"])]
        for r in rows
    ]  # fmt: skip
    headers = ("device", "kernel library", "points", "floor", "held out", "median error", "worst error")
    echo(format_table(headers, table))
    echo(
        f"{len(calibration_data.points)} published points from {len(calibration_data.sources)} sources; the error "
        "of each device is that of predictions for models left out of the fit (edgekd devices calibration --json "
        "lists them)."
    )
