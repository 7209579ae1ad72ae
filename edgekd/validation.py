"""Parse the user's YAML and JSON documents safely, and validate them against a pydantic model, one line per problem.

A parser that builds nested containers recurses once per level (PyYAML's composer, the
``json`` module), and whatever walks the result recurses again (pydantic, ``json.dumps``),
so a document nested a hundred thousand levels deep ends in a RecursionError, or worse.
Such documents are refused before anything recursive reads them: YAML by walking the
parser's event stream (which PyYAML produces with an explicit stack, not recursion), JSON
by counting its brackets outside strings. YAML aliases are counted as what they expand to,
so a few lines of anchors cannot stand for a billion values, and an alias inside the
collection it names (a recursive document) is refused.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from edgekd.errors import EdgekdError
from edgekd.inputs import read_regular_file

Model = TypeVar("Model", bound=BaseModel)

# Keras's set_random_seed seeds numpy's global generator, which takes 32-bit unsigned seeds.
MAX_SEED = 2**32 - 1
# Configs, profiles and results documents nest about five levels deep; anything past this is
# not one of them, and stays far below Python's recursion limit (1,000) for every reader.
MAX_NESTING = 64
# Values a YAML document may expand to, its aliases counted as copies: a config holds hundreds.
MAX_YAML_VALUES = 100_000
# A config or profile is a few kilobytes; reading one past this would only fill memory.
MAX_TEXT_BYTES = 4 << 20
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)


def read_text_file(path: Path, error: type[EdgekdError], what: str) -> str:
    """The UTF-8 text of a config or profile file; unreadable or undecodable, it is one ``error`` naming it."""
    data = read_regular_file(path, what, error, limit=MAX_TEXT_BYTES)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(
            f"{what} {path} is not UTF-8 text (byte {exc.start} is 0x{exc.object[exc.start]:02x}); save it as UTF-8"
        ) from None


def _too_deep(source: str, what: str) -> str:
    return (
        f"{source}: nested more than {MAX_NESTING} levels deep; {what} nests a few levels, so this is not one "
        "(a damaged or hostile file)"
    )


def _check_yaml_shape(text: str, source: str, error: type[EdgekdError], what: str) -> None:
    """Refuse YAML nested past MAX_NESTING, expanding past MAX_YAML_VALUES, or holding a recursive alias.

    Walks ``yaml.parse``'s events, keeping for each open collection its anchor, how many values
    it expands to and how deep it goes; an anchor's figures are known once its collection ends.
    """
    stack: list[list] = [[None, 0, 0]]  # [anchor, values, height below] per open collection
    anchors: dict[str, tuple[int, int]] = {}  # anchor -> (values, height)
    total = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            stack.append([event.anchor, 1, 1])
            total += 1
        elif isinstance(event, yaml.CollectionEndEvent):
            anchor, values, height = stack.pop()
            if anchor:
                anchors[anchor] = (values, height)
            stack[-1][1] += values
            stack[-1][2] = max(stack[-1][2], height + 1)
        elif isinstance(event, yaml.ScalarEvent):
            if event.anchor:
                anchors[event.anchor] = (1, 0)
            stack[-1][1] += 1
            total += 1
        elif isinstance(event, yaml.AliasEvent):
            if event.anchor not in anchors:
                raise error(
                    f"{source}: the alias *{event.anchor} stands for a collection it is inside (a recursive "
                    f"document), which {what} never is; write the values out"
                )
            values, height = anchors[event.anchor]
            stack[-1][1] += values
            stack[-1][2] = max(stack[-1][2], height)
            total += values
            if len(stack) - 1 + height > MAX_NESTING:
                raise error(_too_deep(source, what))
        if len(stack) - 1 > MAX_NESTING:
            raise error(_too_deep(source, what))
        if total > MAX_YAML_VALUES:
            raise error(
                f"{source}: expands to more than {MAX_YAML_VALUES:,} values (its aliases counted as the copies they "
                f"stand for); {what} holds far fewer: a damaged or hostile file"
            )


def parse_yaml_mapping(text: str, source: str, error: type[EdgekdError], what: str) -> dict:
    """``yaml.safe_load`` only (data, never Python objects), and the top level must be a mapping."""
    try:
        _check_yaml_shape(text, source, error, what)
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise error(f"{source}: not valid YAML data ({' '.join(str(exc).split())[:200]})") from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise error(f"{source}: {what} must be a mapping of fields, found {type(document).__name__}")
    return document


def json_nesting(text: str) -> int:
    """How deeply the arrays and objects of JSON ``text`` nest, counted without parsing it (brackets outside strings)."""
    brackets = text.count("[") + text.count("{")
    if brackets <= MAX_NESTING:
        return brackets  # a bound, enough to say it is within the limit
    outside = np.frombuffer(_JSON_STRING.sub('""', text).encode("utf-8", "surrogatepass"), np.uint8)
    steps = np.isin(outside, (ord("["), ord("{"))).astype(np.int64) - np.isin(outside, (ord("]"), ord("}")))
    return int(np.cumsum(steps).max(initial=0))


def parse_json(text: str | bytes, source: str, error: type[EdgekdError], what: str) -> Any:
    """``json.loads(text)`` for a document from outside (a file, a device's answer), nested at most MAX_NESTING deep.

    ``what`` names the kind of document in messages ("an edgekd results file").
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise error(f"{source} is not UTF-8 text (byte {exc.start}); it is not {what}") from None
    if json_nesting(text) > MAX_NESTING:
        raise error(f"{source} is nested more than {MAX_NESTING} levels deep; it is not {what}")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise error(f"{source} is not readable JSON ({' '.join(str(exc).split())[:200]}); it is not {what}") from None


def check_seed(seed: object, error: type[EdgekdError], name: str = "seed") -> int:
    """``seed`` if it is a whole number numpy and Keras accept (0 to MAX_SEED), else one ``error`` naming ``name``.

    Checked by the library, so the Python API refuses what the command line refuses, before
    any model or data loads.
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise error(f"`{name}` {seed!r} must be a whole number from 0 to {MAX_SEED}")
    if not 0 <= seed <= MAX_SEED:
        raise error(f"`{name}` {seed} must be from 0 to {MAX_SEED} (numpy and Keras take 32-bit seeds)")
    return int(seed)


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


class Section(BaseModel):
    """A section of a config: unknown keys refused, frozen once parsed (each stage's settings subclass it)."""

    # NaN and infinity are never meaningful settings (a NaN minimum would benchmark forever).
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
