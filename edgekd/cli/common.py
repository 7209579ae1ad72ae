"""Shared CLI plumbing: error handling, JSON output, output folders."""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import traceback
from pathlib import Path

import click

from edgekd.cli.flags import DB, FORCE, FRESH, JSON, flag_names
from edgekd.errors import ConfigError, EdgekdError
from edgekd.untrusted import for_terminal


class EdgekdGroup(click.Group):
    """Turns library errors into one line on stderr and an exit code; never a traceback for user errors."""

    def invoke(self, ctx: click.Context):
        from edgekd.interrupts import deferred_interrupts

        try:
            with deferred_interrupts():
                return super().invoke(ctx)
        except EdgekdError as exc:
            # Messages quote file names, tensor names and profile fields: one line, no escape sequences.
            click.echo(f"edgekd: error: {for_terminal(as_flags(str(exc), COMMON_FLAGS))}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo(
                "edgekd: interrupted; unfinished outputs were discarded and earlier results are untouched", err=True
            )
            ctx.exit(130)
        except click.UsageError as exc:
            # One line, as for every other error, naming the command whose --help explains it.
            path = exc.ctx.command_path.split()[1:] if exc.ctx is not None else []
            where = f"`{' '.join(['edgekd', *path])} --help`"
            click.echo(f"edgekd: error: {for_terminal(exc.format_message().rstrip('.'))}; see {where}", err=True)
            ctx.exit(exc.exit_code)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except Exception as exc:  # a bug in edgekd, not the user's fault: say so, briefly
            if os.environ.get("EDGEKD_DEBUG"):
                traceback.print_exc()
            message = for_terminal(" ".join(str(exc).split())[:300])
            click.echo(
                f"edgekd: internal error: {type(exc).__name__}: {message} "
                "(set EDGEKD_DEBUG=1 for the traceback and please report it)",
                err=True,
            )
            ctx.exit(70)


def echo(text: object = "", err: bool = False, nl: bool = True) -> None:
    """Print ``text`` (stdout, or stderr with ``err``), each of its lines without control characters.

    Every line a command prints goes through here: model, device and run names come from files
    a user may have downloaded, and a terminal would act on an escape sequence inside them.
    """
    click.echo("\n".join(for_terminal(line) for line in str(text).split("\n")), err=err, nl=nl)


def emit_json(document) -> None:
    click.echo(json.dumps(document, indent=2, default=str))


def stderr_reporter(total_stages: int = 0, quiet: bool = False, flags: dict[str, str] | None = None):
    """Progress on stderr; settings named in its lines show as ``flags`` (and the common flags)."""
    from edgekd.progress import Reporter

    names = {**COMMON_FLAGS, **(flags or {})}
    return Reporter(total_stages, quiet, sys.stderr, rename=lambda line: as_flags(line, names))


# The shared options for commands that do not call the API (the others declare them in cli/flags.py).
json_option = JSON.decorator()
force_option = FORCE.decorator()


def config_from_flags(document: dict, flags: dict[str, str]):
    """The pipeline config from command-line values; a value the schema refuses is named by its flag.

    ``flags`` maps config keys (``student.epochs``) to the flags that set them (``--epochs``).
    """
    from pydantic import ValidationError

    from edgekd.config import PipelineConfig

    try:
        return PipelineConfig.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        keys = [str(part) for part in first["loc"]]
        # A list item (teacher.weights.1) is named by the flag of its list.
        prefixes = (".".join(keys[:length]) for length in range(len(keys), 0, -1))
        field = next((prefix for prefix in prefixes if prefix in flags), ".".join(keys))
        raise ConfigError(f"{flags.get(field, field)} {first.get('input')}: {first['msg']}") from None


db_option = DB.decorator()


def open_store(db: Path | None):
    """Open (and check) the results store before any long work, so a bad --db fails first."""
    from edgekd.results.store import ResultsStore

    store = ResultsStore(db)
    try:
        store.check_writable()
    except BaseException:
        store.close()
        raise
    context = click.get_current_context(silent=True)
    if context is not None:
        context.call_on_close(store.close)
    return store


def store_run(store, document: dict, out_path: Path | None, artifacts: dict[str, Path], say: bool = True) -> int:
    """Record a finished run; says where on stderr (``say=False`` when an error message follows)."""
    run_id = store.record(document, out_path, artifacts)
    if say:
        echo(f"edgekd: stored as run {run_id} in {store.path}", err=True)
    return run_id


# Settings every command that writes outputs names by the same flags.
COMMON_FLAGS = {"out": "--out", **flag_names((FORCE, FRESH, DB))}


def say_on_stderr(line: str) -> None:
    """What the library says while it works (resuming, where a run was stored), as a command line shows it."""
    echo(f"edgekd: {as_flags(line, COMMON_FLAGS)}", err=True)


def as_flags(text: str, flags: dict[str, str]) -> str:
    """Library messages name settings in backticks (`max_drop`); a command names the flags that set them."""
    return re.sub(r"`([A-Za-z_.]+)`", lambda match: flags.get(match.group(1), match.group(0)), text)


@contextlib.contextmanager
def settings_as_flags(flags: dict[str, str]):
    """Re-raise a library error with each setting it names replaced by its flag (``flags``: setting → flag)."""
    try:
        yield
    except EdgekdError as exc:
        exc.args = (as_flags(str(exc), flags),)
        raise
