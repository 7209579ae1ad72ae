"""``search``: the most accurate students within a device's budgets, distilled from a teacher."""

from __future__ import annotations

from pathlib import Path

from edgekd.api.store import default_run_folder, say_on_stderr
from edgekd.config import PipelineConfig
from edgekd.errors import ConfigError
from edgekd.progress import SILENT, Reporter
from edgekd.validation import validate


def search_config(
    config: PipelineConfig, out: Path | str | None = None, *, reporter: Reporter = SILENT, say=say_on_stderr
):
    """``config``'s ``search`` section run into ``out`` (default ``runs/search-<timestamp>``); returns a ``SearchResult``.

    ``out`` holds the study's database: the same call again continues the search.
    """
    from edgekd.search.stage import run_search

    return run_search(config, Path(out) if out is not None else default_run_folder("search"), reporter, say)


def search(
    teacher: Path | str,
    *,
    data: str = "mnist1d",
    device: str = "host",
    budgets: dict[str, float] | list[str] | None = None,
    trials: int = 20,
    out: Path | str | None = None,
    families: list[str] | None = None,
    measure: bool = False,
    seed: int = 0,
    trust_model: bool = False,
    **options,
):
    """``edgekd search``: the most accurate students within ``budgets`` on ``device``, distilled from ``teacher``.

        result = edgekd.search("teacher.keras", device="nano33ble", budgets={"ram_kb": 64}, trials=20, out="runs/s")
        print(result.chosen["candidate"], result.chosen["models"]["student_int8"]["accuracy"])

    ``budgets``: ``{"latency_ms": 20}`` or ``["latency_ms=20"]``. Other keys of the config's
    ``search`` section (``recipe``, ``trial_fraction``, ``finalists``, ``storage``, ``study_name``)
    go in ``options``; other sections through ``config_overrides`` as a nested dict.
    """
    from edgekd.search.budget import parse_budgets

    overrides = options.pop("config_overrides", {})
    reporter, say = options.pop("reporter", SILENT), options.pop("say", say_on_stderr)
    if isinstance(budgets, list | tuple):
        budgets = parse_budgets(budgets)
    document = {
        "seed": seed,
        "data": {"spec": data},
        "teacher": {"path": str(teacher), "trust_model": trust_model},
        "search": {
            "device": device,
            "budgets": budgets or {},
            "trials": trials,
            "families": list(families or []),
            "measure": measure,
            **options,
        },
        "bench": {"devices": []},
    }
    for section, values in overrides.items():
        document[section] = {**document.get(section, {}), **values} if isinstance(values, dict) else values
    config = validate(PipelineConfig, document, "search settings", ConfigError)
    return search_config(config, out, reporter=reporter, say=say)
