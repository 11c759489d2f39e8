"""The layers hold: no import circle in edge/, drivers/ and rules/ never import edge/,
rules/ stays pure (no I/O modules). Every import counts, lazy ones and those under
TYPE_CHECKING included: a circle hidden from the interpreter is still a circle."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("edge", "drivers", "rules")
IO_MODULES = frozenset(
    {
        "asyncio", "socket", "sqlite3", "subprocess", "threading", "multiprocessing",
        "select", "selectors", "ssl", "http", "urllib", "serial", "serial_asyncio_fast",
        "pymodbus", "aiomqtt", "paho", "structlog", "logging", "os", "shutil", "time",
        "edge", "drivers", "sim",
    }
)  # fmt: skip


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            out[module_name(path)] = path
    return out


def imported(path: Path, name: str, known: dict[str, Path]) -> Iterator[str]:
    """Every module `path` imports (resolved to project modules where possible)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                yield sub if sub in known else base


def graph() -> dict[str, set[str]]:
    known = modules()
    return {
        name: {m for m in imported(path, name, known) if m in known and m != name}
        for name, path in known.items()
    }


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_no_import_circle_anywhere() -> None:
    """No two modules of edge/, drivers/ or rules/ import each other, however indirectly."""
    found = cycles(graph())
    assert found == [], "import circles: " + "; ".join(" <-> ".join(c) for c in found)


def test_drivers_and_rules_never_import_edge() -> None:
    bad = [
        f"{m} imports {d}"
        for m, deps in graph().items()
        if m.split(".")[0] in ("drivers", "rules")
        for d in deps
        if d.split(".")[0] == "edge"
    ]
    assert bad == []


def test_rules_import_no_io() -> None:
    """rules/ is a pure function of its inputs: no I/O, clock or logging modules."""
    known = modules()
    bad = []
    for name, path in known.items():
        if not name.startswith("rules"):
            continue
        for m in imported(path, name, known):
            if m.split(".")[0] in IO_MODULES:
                bad.append(f"{name} imports {m}")
    assert bad == []


def test_the_checker_sees_a_circle() -> None:
    """The circle finder is not vacuous: a two-module loop and a three-module loop show."""
    assert cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def packages(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    """The graph folded to folders: `edge.alarms.engine` -> `edge.alarms` (a module
    directly in `edge/` stays itself)."""
    known = modules()

    def room(m: str) -> str:
        parts = m.split(".")
        if len(parts) > 2 or known[m].name == "__init__.py":
            return ".".join(parts[:2])
        return m

    out: dict[str, set[str]] = {}
    for m, deps in edges.items():
        out.setdefault(room(m), set()).update(room(d) for d in deps if room(d) != room(m))
    return out


def test_no_circle_between_folders() -> None:
    """Folders are layers too: e.g. edge/config imports no service that imports it."""
    found = cycles(packages(graph()))
    assert found == [], "folder circles: " + "; ".join(" <-> ".join(c) for c in found)
