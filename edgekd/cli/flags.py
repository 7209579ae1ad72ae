"""One declaration per command line parameter: its flag, the API setting it sets, and click's options for it.

A command declares its parameters once, as a tuple of ``Flag``; from that tuple come the click
options (``declared``), the keyword arguments of the API call (``api_arguments``) and the
flag that an error message naming a setting shows instead (``flag_names``), so the three
cannot drift apart. A flag that only shapes what the CLI prints (``--json``) has no setting
(``CLI_ONLY``). A command whose API function takes a pipeline config (``distill_config``,
``search_config``) declares config keys as ``config.KEY`` (``in_config`` splits them from the
call's keywords, ``set_keys`` writes them into the config document). ``tests/test_cli_flags.py``
walks every command and checks that each of its options is declared and reaches the API
function the declaration names.

    RUNS = option("--runs", type=int, default=100, show_default=True, help="Minimum number of measured runs.")
    PER_TENSOR = option("--per-tensor", "per_channel", convert=negated, is_flag=True, help="...")
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import click

from edgekd.config import MAX_SEED

# A setting inside the pipeline config the API function takes (``config.student.epochs``), not a keyword of
# the call; library messages name it by its config key (``student.epochs``).
IN_CONFIG = "config."
# The setting of a flag that only shapes the command's own output (the format it prints).
CLI_ONLY = None
# ``option``'s default setting: the flag's name in snake case (``--min-seconds`` sets ``min_seconds``).
_SAME = "same as the parameter"


@dataclass(frozen=True)
class Flag:
    """One option or argument of a command and the API setting it sets.

    ``convert(value, params)`` turns click's value into the setting's (``params``: every value
    click parsed, for a setting that reads another flag); ``setting`` is ``CLI_ONLY`` for a
    flag the API never sees; ``aliases`` are other names the library's messages give the
    same setting (a config key's field name, ``trials`` for ``search.trials``). A flag that sets
    several settings names them in a tuple, and ``convert`` returns their values in that order.
    """

    name: str
    setting: str | tuple[str, ...] | None
    param: str
    convert: Callable[[Any, Mapping[str, Any]], Any] | None = None
    click_options: Mapping[str, Any] = field(default_factory=dict)
    is_argument: bool = False
    aliases: tuple[str, ...] = ()

    def decorator(self):
        """The click decorator that declares this parameter, with its help text and type."""
        if self.is_argument:
            return click.argument(self.param, **self.click_options)
        declared = (self.name,) if self.param == _parameter_name(self.name) else (self.name, self.param)
        return click.option(*declared, **self.click_options)

    def value(self, params: Mapping[str, Any]) -> Any:
        """The setting's value from click's parsed ``params``."""
        value = params[self.param]
        return self.convert(value, params) if self.convert is not None else value


def option(
    name: str,
    setting: str | tuple[str, ...] | None = _SAME,
    *,
    param: str | None = None,
    convert=None,
    aliases=(),
    **click_options,
) -> Flag:
    """An option (``--name``) that sets ``setting`` (default: the name in snake case) through click's parameter
    ``param`` (default: the same); ``click_options`` as ``click.option``'s."""
    return Flag(
        name,
        _parameter_name(name) if setting == _SAME else setting,
        param or _parameter_name(name),
        convert,
        click_options,
        aliases=tuple(aliases),
    )


def argument(param: str, setting: str, *, convert=None, **click_options) -> Flag:
    """A positional argument that sets ``setting``; ``click_options`` as ``click.argument``'s."""
    return Flag(param, setting, param, convert, click_options, is_argument=True)


def declared(api: str, flags: tuple[Flag, ...]):
    """Give a command the click parameters ``flags`` declares, in their order; ``api`` names the function of
    ``edgekd.api`` that the command calls with them (the test that walks every command reads both)."""

    def decorate(function):
        for flag in reversed(flags):  # click lists parameters in the order their decorators are written
            function = flag.decorator()(function)
        function.declared_flags = flags
        function.declared_api = api
        return function

    return decorate


def settings_of(flag: Flag) -> tuple[str, ...]:
    """The settings ``flag`` sets (none for a CLI-only flag)."""
    if flag.setting is CLI_ONLY:
        return ()
    return flag.setting if isinstance(flag.setting, tuple) else (flag.setting,)


def api_arguments(flags: tuple[Flag, ...], params: Mapping[str, Any]) -> dict[str, Any]:
    """The API's arguments (setting → value) from click's parsed ``params``; CLI-only flags left out.

    Flags that share a setting (``--temperature``, ``--alpha`` and ``--param`` make one method's
    parameters) compute the same value from ``params``.
    """
    arguments = {}
    for flag in flags:
        settings = settings_of(flag)
        if settings:
            values = flag.value(params)
            arguments.update(zip(settings, values if isinstance(flag.setting, tuple) else (values,), strict=True))
    return arguments


def in_config(arguments: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``api_arguments`` split into the pipeline config's keys (``student.epochs``) and the call's keywords."""
    config = {key.removeprefix(IN_CONFIG): value for key, value in arguments.items() if key.startswith(IN_CONFIG)}
    keywords = {key: value for key, value in arguments.items() if not key.startswith(IN_CONFIG)}
    return config, keywords


def set_keys(document: dict, values: Mapping[str, Any]) -> dict:
    """Set each dotted config key of ``values`` (``student.epochs``) in the nested ``document``; returns it."""
    for dotted, value in values.items():
        *sections, key = dotted.split(".")
        section = document
        for name in sections:
            section = section.setdefault(name, {})
        section[key] = value
    return document


def flag_names(flags: tuple[Flag, ...]) -> dict[str, str]:
    """Setting → flag, for the error messages that name a setting (``as_flags``, ``settings_as_flags``).

    A config key is named without ``IN_CONFIG``; a setting several flags share is named by all of them
    (``--temperature/--alpha/--param``).
    """
    names: dict[str, list[str]] = {}
    for flag in flags:
        if not flag.is_argument:
            for setting in (*settings_of(flag), *flag.aliases):
                names.setdefault(setting.removeprefix(IN_CONFIG), []).append(flag.name)
    return {setting: "/".join(shown) for setting, shown in names.items()}


def cli_only(flags: tuple[Flag, ...]) -> tuple[str, ...]:
    """The flags the API never sees."""
    return tuple(flag.name for flag in flags if not settings_of(flag))


def in_the_config(flag: Flag, key: str | None = None, aliases=()) -> Flag:
    """A shared flag (``SEED``) for a command whose API takes a config: it sets the config's ``key``
    (default: its own setting's name)."""
    return replace(flag, setting=IN_CONFIG + (key or flag.setting), aliases=tuple(aliases))


def _parameter_name(name: str) -> str:
    return name.lstrip("-").replace("-", "_")


# Converters: each takes click's value and every parsed value.


def negated(value: bool, params: Mapping[str, Any]) -> bool:
    """A flag that turns a setting off (``--per-tensor`` sets ``per_channel`` False)."""
    return not value


def as_list(value, params: Mapping[str, Any]) -> list:
    """A repeatable option or a variadic argument as the list the API takes."""
    return list(value)


def given_or_none(value, params: Mapping[str, Any]):
    """A flag left out is None: the config (or its default) decides."""
    return value or None


def list_or_none(value, params: Mapping[str, Any]) -> list | None:
    """A repeatable option left out is None: the config (or its default) decides."""
    return list(value) or None


def path_text(value: Path | None, params: Mapping[str, Any]) -> str | None:
    """A path the API takes as text (it is written into the results as given)."""
    return str(value) if value is not None else None


# Options that several commands take, declared once.
JSON = option("--json", CLI_ONLY, param="as_json", is_flag=True, help="Print the result as JSON instead of a table.")
FORCE = option("--force", is_flag=True, help="Replace an existing output (only once the new one is complete).")
FRESH = option(
    "--fresh", is_flag=True, help="Discard checkpoints an interrupted run left for this --out and start training over."
)
DB = option(
    "--db",
    type=click.Path(path_type=Path),
    default=None,
    help="Results store (SQLite; default $EDGEKD_DB or ~/.edgekd/results.db).",
)
SEED = option(
    "--seed",
    type=click.IntRange(0, MAX_SEED),
    default=0,
    show_default=True,
    help="Random seed, 0 to 4294967295 (numpy and Keras take 32-bit seeds).",
)
DETERMINISTIC = option(
    "--deterministic",
    is_flag=True,
    help="TensorFlow op determinism: bit-identical training on the same machine and library versions (slower).",
)
TRUST_MODEL = option(
    "--trust-model",
    is_flag=True,
    help="Allow model files that contain code (Lambda layers, custom objects, SavedModel folders).",
)
