"""The layering ARCHITECTURE.md describes, checked on the source: no import cycle anywhere (lazy
imports inside functions count too), no SQL outside store/, no judge that knows the database."""

import ast
import re
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGES = ("store", "sources", "judges", "runs", "analysis", "exports", "ui", "pages")
TOP_MODULES = ("labels", "errors", "words", "pids", "demo", "cli", "app")
# The house style writes SQL keywords in capitals, which also keeps prose ("Select a judge from...") out.
SQL = re.compile(r"\b(SELECT\s.+\sFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+(TABLE|INDEX|VIEW))\b",
                 re.DOTALL)


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1]) if parts[-1] == "__init__" else ".".join(parts)


def _sources() -> dict[str, Path]:
    files = [ROOT / f"{name}.py" for name in TOP_MODULES]
    for package in PACKAGES:
        files += sorted((ROOT / package).glob("*.py"))
    return {_module_name(p): p for p in files if p.exists()}


def _imports(path: Path, known: set[str]) -> set[str]:
    """Project modules ``path`` imports, anywhere in the file (top level or inside a function)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = _sources()
    known = set(modules)
    graph = {}
    for name, path in modules.items():
        edges = _imports(path, known) - {name}
        # ``from store import users`` names the package and its submodule: the submodule is the edge.
        graph[name] = {e for e in edges if not any(other.startswith(e + ".") for other in edges)}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state, stack = [], {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def test_the_graph_is_read(graph):
    assert "store.writes" in graph and "store.users" in graph["store.writes"]
    assert "runs.orchestrator" in graph and "store.runs" in graph["runs.orchestrator"]


def test_no_import_cycle_anywhere(graph):
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]


@pytest.mark.parametrize("layer, forbidden", [
    ("judges", ("store", "runs", "ui", "pages", "sources", "analysis")),
    ("analysis", ("store", "runs", "ui", "pages", "sources", "judges")),
    ("store", ("judges", "runs", "ui", "pages", "sources", "analysis", "exports")),
    ("sources", ("runs", "ui", "pages", "judges", "analysis")),
    ("exports", ("runs", "ui", "pages", "judges")),
    ("runs", ("ui", "pages", "sources")),
])
def test_no_import_runs_up_the_layers(graph, layer, forbidden):
    wrong = sorted(f"{m} -> {e}" for m, edges in graph.items() if m.split(".")[0] == layer
                   for e in edges if e.split(".")[0] in forbidden)
    assert wrong == []


def test_pages_and_ui_never_touch_sqlite_or_write_sql():
    offenders = []
    for package in ("pages", "ui"):
        for path in sorted((ROOT / package).glob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) else [])
                    if any(n and n.split(".")[0] == "sqlite3" for n in names):
                        offenders.append(f"{path.name}: imports sqlite3")
                elif isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.search(node.value):
                    offenders.append(f"{path.name}:{node.lineno}: SQL in a string")
    assert offenders == []


def test_the_sql_detector_sees_sql():
    assert SQL.search("SELECT id FROM prompts") and SQL.search("INSERT INTO x VALUES (1)")
    assert not SQL.search("Select a judge from the list")  # prose with the words apart stays prose
