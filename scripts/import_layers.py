"""Count edgekd's upward imports and import circles, from the code's own imports.

The floors are the ``layers`` contract in ``.importlinter`` (the one `lint-imports` checks);
this script reads them from there, builds the import graph with grimp (which import-linter
installs) and prints:

- every direct import from a module on a lower floor to one on a higher floor (an import of the
  package top, ``import edgekd``, counts as one to the API floor: the top exposes the API);
- every circle of modules importing each other (a strongly connected component of the graph),
  with whether it is a registry importing the modules that register into it.

    python scripts/import_layers.py            # the report; exit status 1 if anything is upward
                                               # or a circle is not a registry's
    python scripts/import_layers.py --json     # the same as JSON
"""

from __future__ import annotations

import argparse
import configparser
import json
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "edgekd"


def floors(config_path: Path = ROOT / ".importlinter") -> list[list[str]]:
    """The layers contract's floors, top first, each a list of module names (``edgekd.cli``)."""
    parser = configparser.ConfigParser()
    parser.read(config_path)
    for section in parser.sections():
        if parser[section].get("type") == "layers":
            result = []
            for line in parser[section]["layers"].strip().splitlines():
                names = [part.strip().strip("()") for part in line.replace(":", "|").split("|")]
                result.append([f"{PACKAGE}.{name}" for name in names if name])
            return result
    raise SystemExit(f"no layers contract in {config_path}")


def floor_of(module: str, floor_index: dict[str, int]) -> int | None:
    """The floor of ``module`` (0 = top); the package top sits on the API's floor."""
    if module == PACKAGE:
        return floor_index.get(f"{PACKAGE}.api")
    parts = module.split(".")
    for length in range(len(parts), 1, -1):
        found = floor_index.get(".".join(parts[:length]))
        if found is not None:
            return found
    return None


def upward_imports(graph, floor_index: dict[str, int]) -> list[dict]:
    """Each direct import whose importer sits on a lower floor than what it imports, with its lines."""
    found = []
    for importer in sorted(graph.modules):
        low = floor_of(importer, floor_index)
        if low is None:
            continue
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            high = floor_of(imported, floor_index)
            if high is not None and high < low:
                lines = [d["line_number"] for d in graph.get_import_details(importer=importer, imported=imported)]
                found.append({"importer": importer, "imported": imported, "lines": lines})
    return found


def _components(edges: dict[str, list[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    counter = 0

    def visit(module: str) -> None:
        nonlocal counter
        index[module] = low[module] = counter
        counter += 1
        stack.append(module)
        on_stack.add(module)
        for other in edges[module]:
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in on_stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))
    for module in sorted(edges):
        if module not in index:
            visit(module)
    return sorted(groups)


def _edges(graph, modules) -> dict[str, list[str]]:
    members = set(modules)
    return {m: sorted(i for i in graph.find_modules_directly_imported_by(m) if i in members) for m in sorted(members)}


def circles(graph) -> list[list[str]]:
    """Groups of modules that import each other, directly or through others."""
    return _components(_edges(graph, [m for m in graph.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]))


# Modules that keep a registry and import their built-in entries so that a lookup finds them.
REGISTRY_NAMES = ("registry", "builders", "spec")


def is_registry_circle(graph, group: list[str]) -> bool:
    """True when the circle is only a registry importing the modules that register into it.

    The plugin idiom: ``builders.py`` imports its built-ins at the bottom so that looking a name
    up finds them, and each built-in imports ``register`` from it. Without the registry's imports
    of its plugins such a circle falls apart; any circle that survives their removal is another kind.
    """
    registries = {m for m in group if m.rsplit(".", 1)[-1] in REGISTRY_NAMES}
    if not registries:
        return False
    edges = _edges(graph, group)
    for registry in registries:
        edges[registry] = []
    return not _components(edges)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON")
    arguments = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    graph = grimp.build_graph(PACKAGE, include_external_packages=False)
    floor_list = floors()
    floor_index = {module: number for number, names in enumerate(floor_list) for module in names}
    upward = upward_imports(graph, floor_index)
    groups = [{"modules": group, "registry": is_registry_circle(graph, group)} for group in circles(graph)]
    if arguments.json:
        print(json.dumps({"upward_imports": upward, "circles": groups}, indent=2))
    else:
        print(f"{len(upward)} upward imports (direct, module to module):")
        for item in upward:
            lines = ", ".join(f"l.{n}" for n in item["lines"])
            print(f"  {item['importer']} -> {item['imported']} ({lines})")
        print(f"{len(groups)} import circles:")
        for group in groups:
            kind = "a registry and its plugins" if group["registry"] else "NOT a registry"
            print(f"  [{kind}] {' <-> '.join(group['modules'])}")
    return 1 if upward or not all(group["registry"] for group in groups) else 0


if __name__ == "__main__":
    raise SystemExit(main())
