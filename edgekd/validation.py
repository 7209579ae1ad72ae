"""Validate parsed YAML against a pydantic model, reporting the first problem as one line."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from edgekd.errors import EdgekdError
from edgekd.inputs import read_regular_file

Model = TypeVar("Model", bound=BaseModel)


def read_text_file(path: Path, error: type[EdgekdError], what: str) -> str:
    """The UTF-8 text of a config or profile file; unreadable or undecodable, it is one ``error`` naming it."""
    data = read_regular_file(path, what, error)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(
            f"{what} {path} is not UTF-8 text (byte {exc.start} is 0x{exc.object[exc.start]:02x}); save it as UTF-8"
        ) from None


def parse_yaml_mapping(text: str, source: str, error: type[EdgekdError], what: str) -> dict:
    """``yaml.safe_load`` only (data, never Python objects), and the top level must be a mapping."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise error(f"{source}: not valid YAML data ({' '.join(str(exc).split())[:200]})") from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise error(f"{source}: {what} must be a mapping of fields, found {type(document).__name__}")
    return document


def validate(model: type[Model], document: dict, source: str, error: type[EdgekdError]) -> Model:
    """``model.model_validate(document)``, with the first problem named by its field path."""
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "(top level)"
        problem = "unknown field (see the documented grammar)" if first["type"] == "extra_forbidden" else first["msg"]
        # A validator's own message reads better without pydantic's "Value error, " in front.
        problem = problem.removeprefix("Value error, ")
        more = f" (and {exc.error_count() - 1} more problem(s))" if exc.error_count() > 1 else ""
        raise error(f"{source}: field {field!r}: {problem}{more}") from None
