"""Every option of every command reaches the API function the command's declaration names.

Each command over ``edgekd.api`` declares its parameters once (``edgekd/cli/flags.py``): the
flag, the API setting it sets and click's options. Here the API function is replaced by one
that keeps its arguments and stops, and each option is given a value other than its default:
the argument its declaration names must carry that value. An option added to a command without
a declaration, or declared but never passed on, fails here. Nothing trains: the API never runs.
"""

import inspect
from pathlib import Path

import click
import pytest

import edgekd.api
from edgekd.cli.flags import CLI_ONLY, IN_CONFIG, Flag, cli_only
from edgekd.cli.main import cli

# Commands whose work is not one edgekd.api function: they read a file, the results store or a
# device profile themselves (a Python caller uses those modules directly).
WITHOUT_API = {"inspect", "devices", "results", "compare", "report", "export", "deploy"}

# The flags that only shape what a command prints.
OUTPUT_ONLY = {"--json"}
# Flags the CLI checks that reach the API as its default: --train-teacher says "no --teacher" out loud.
CHECKED_IN_THE_CLI = {("distill", "--train-teacher")}

# Values an option must be given where any other value would be refused before the API call
# (a config key the config's schema checks), by command and flag.
VALUES = {
    ("search", "--data"): "mnist1d:samples=2000",
    ("search", "--budget"): "ram_kb=64",
    ("search", "--family"): "mlp",
    ("search", "--recipe"): "kd:temperature=2",
    ("search", "--finalist-recipe"): "kd:temperature=2",
    ("distill", "--data"): "mnist1d:samples=2000",
    ("distill", "--student"): "conv:width=1.5",
    ("distill", "--method"): "dkd",
    ("distill", "--candidate"): "kd:temperature=2",
    ("distill", "--augment"): "mixup",
    ("distill", "--teacher-augment"): "noise",
    ("distill", "--strategy"): "mirrored",
    ("distill", "--cache-budget"): "1GiB",
    ("distill", "--param"): "beta=8",
    ("distill", "--teacher-weight"): ["0.25", "0.75"],  # one per teacher
}


def _declared_commands() -> list[str]:
    # A command neither declared nor in WITHOUT_API fails the first test instead of hiding here.
    return sorted(name for name, command in cli.commands.items() if hasattr(command.callback, "declared_flags"))


def _flags(name: str) -> tuple[Flag, ...]:
    return cli.commands[name].callback.declared_flags


def _options(name: str) -> list[click.Option]:
    return [param for param in cli.commands[name].params if isinstance(param, click.Option)]


class Stopped(Exception):
    """Raised by the stand-in API function once it has kept its arguments, so that nothing runs."""


def test_every_command_is_declared_or_does_not_call_the_api():
    for name, command in cli.commands.items():
        declared = hasattr(command.callback, "declared_flags")
        assert declared != (name in WITHOUT_API), f"{name}: declare its flags (edgekd/cli/flags.py) or list it here"
        if declared:
            assert callable(getattr(edgekd.api, command.callback.declared_api)), name


@pytest.mark.parametrize("name", _declared_commands())
def test_every_parameter_is_declared_and_only_output_flags_are_cli_only(name):
    flags = _flags(name)
    params = cli.commands[name].params
    assert [param.name for param in params] == [flag.param for flag in flags], "a parameter without a declaration"
    for param, flag in zip(params, flags, strict=True):
        if isinstance(param, click.Option):
            assert param.opts[0] == flag.name, (param.opts, flag.name)
    allowed = OUTPUT_ONLY | {flag for command, flag in CHECKED_IN_THE_CLI if command == name}
    assert set(cli_only(flags)) <= allowed, f"{name}: only output flags may stay in the CLI"
    assert "--json" in cli_only(flags)


def _given(name: str, option: click.Option, tmp_path) -> list[str]:
    """``option`` with a value other than its default."""
    flag = option.opts[0]
    value = VALUES.get((name, flag)) or _value_given(name, option, tmp_path)
    values = value if isinstance(value, list) else [value]
    return [flag] if option.is_flag else [part for one in values for part in (flag, one)]


def _value_given(name: str, option: click.Option, tmp_path) -> str | None:
    """A value for ``option`` other than its default (None for a flag, which is given alone)."""
    if option.is_flag:
        return None
    kind = option.type
    default = option.default  # click's sentinel when the option has none
    if isinstance(default, list | tuple):
        default = default[0] if default else None
    elif not isinstance(default, int | float | str):
        default = None
    if isinstance(kind, click.Choice):
        return next(choice for choice in kind.choices if choice != default)
    if isinstance(kind, click.Path):
        return str(tmp_path / "given")
    if isinstance(kind, click.types.IntParamType):
        return str((default or 0) + 3)
    if isinstance(kind, click.types.FloatParamType):
        return str((default or 0) + 0.25)
    return "given"


def _required(name: str, tmp_path, flag: str = "") -> list[str]:
    """What the command needs besides the option under test, ``flag`` (none of it when ``flag`` is what it needs)."""
    teacher = ["--teacher", str(tmp_path / "teacher.keras")]
    needs = {
        "bench": ["model.tflite"],
        "quantize": ["model.keras", "--out", str(tmp_path / "q.tflite")],
        "run": ["pipeline.yaml"],
        "search": teacher,
        # A teacher file takes no --teacher-ensemble or --teacher-augment: distill trains one instead.
        "distill": teacher * 2 if flag == "--teacher-weight" else ["--train-teacher"],
    }
    return [] if flag == "--teacher" and name in ("search", "distill") else needs.get(name, [])


def _arguments_reaching(name: str, args: list[str], monkeypatch) -> dict:
    """The arguments the command's API function receives for ``args`` (the function stops there)."""
    api = cli.commands[name].callback.declared_api
    real = getattr(edgekd.api, api)
    kept = {}

    def stand_in(*positional, **keywords):
        bound = inspect.signature(real).bind(*positional, **keywords)
        for key, value in bound.arguments.items():
            is_rest = inspect.signature(real).parameters[key].kind is inspect.Parameter.VAR_KEYWORD
            kept.update(value if is_rest else {key: value})
        raise Stopped

    monkeypatch.setattr(edgekd.api, api, stand_in)
    result = click.testing.CliRunner().invoke(cli, [name, *args])
    assert isinstance(result.exception, SystemExit) and "Stopped" in result.output + result.stderr, result.output
    return kept


def _setting(arguments: dict, setting: str | tuple[str, ...]):
    """A keyword argument, or a key of the config object passed (``config.student.epochs``); a tuple of them."""
    if isinstance(setting, tuple):
        return tuple(_setting(arguments, one) for one in setting)
    if not setting.startswith(IN_CONFIG):
        return arguments[setting]
    document = arguments["config"].model_dump()
    for key in setting.removeprefix(IN_CONFIG).split("."):
        document = document[key]
    return document


def _cases():
    for name in _declared_commands():
        for flag in _flags(name):
            if not flag.is_argument and flag.setting is not CLI_ONLY:
                yield pytest.param(name, flag, id=f"{name} {flag.name}")


@pytest.mark.parametrize(("name", "flag"), list(_cases()))
def test_each_option_reaches_the_api(name, flag, tmp_path, monkeypatch):
    if flag.setting == "config":  # a config file the flags are laid over: its settings reach the API
        config = tmp_path / "search.yaml"
        config.write_text("search:\n  trials: 7\n  study_name: from-the-file\n")
        arguments = _arguments_reaching(name, [*_required(name, tmp_path), flag.name, str(config)], monkeypatch)
        assert (arguments["config"].search.trials, arguments["config"].search.study_name) == (7, "from-the-file")
        return
    option = next(option for option in _options(name) if option.name == flag.param)
    given = _given(name, option, tmp_path)
    command = cli.commands[name]
    required = _required(name, tmp_path, flag.name)
    expected = flag.value(command.make_context(name, [*required, *given]).params)
    if required:  # without them the command refuses to run: no default to compare with
        unchanged = flag.value(command.make_context(name, list(required)).params)
        assert expected != unchanged, f"{name} {flag.name}: the test's value is the default"
    arguments = _arguments_reaching(name, [*required, *given], monkeypatch)
    assert _setting(arguments, flag.setting) == expected


def test_converted_flags_reach_the_api_as_their_settings(tmp_path, monkeypatch):
    quantized = _arguments_reaching("quantize", ["m.keras", "--out", "q.tflite", "--per-tensor"], monkeypatch)
    assert quantized["per_channel"] is False and quantized["teacher"] is None
    every = _arguments_reaching("bench", ["m.tflite", "--accuracy", "mnist1d", "--samples", "0"], monkeypatch)
    assert every["samples"] == "all" and every["model"] == [Path("m.tflite")] and every["devices"] == ["host"]
    alone = _arguments_reaching("bench", ["m.tflite", "--samples", "0"], monkeypatch)
    assert alone["samples"] == 0  # the API says --samples needs --accuracy
