"""The package's shape: no import cycle, modules of a readable size, and no transport that
writes the audit ledger itself (actions and queries record inside their unit of work)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "confide"
MAX_MODULE_LINES = 450
# Transports parse, call and render; the ledger is written by the actions they call.
TRANSPORT = (
    "api/",
    "web/",
    "cli/",
    "realtime/sockets.py",
    "realtime/socket_access.py",
    "realtime/endpoints.py",
)
LEDGER_WRITE = re.compile(
    r"\b(?:ledger|audit)\.(?:record|append)\b"
    r"|from confide\.audit\.ledger import[^\n]*\b(?:record|append)\b"
)


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """Modules of ``confide`` that ``path`` imports at run time (anywhere but under
    ``if TYPE_CHECKING:``), function-level imports included: they still form a cycle."""
    found: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                visit(node.orelse)
                continue
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name in modules)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    if full in modules:
                        found.add(full)
                    elif node.module in modules:
                        found.add(node.module)
            for field in ("body", "orelse", "finalbody", "handlers"):
                children = getattr(node, field, None)
                if isinstance(children, list):
                    visit([c for c in children if isinstance(c, ast.stmt | ast.ExceptHandler)])
            if isinstance(node, ast.ExceptHandler):
                visit(node.body)

    visit(ast.parse(path.read_text()).body)
    return found


def _cycles() -> list[list[str]]:
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {name: _imports(path, set(paths)) - {name} for name, path in paths.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for name in graph:
        if name not in index:
            connect(name)
    return found


def test_no_import_cycle_among_confide_modules() -> None:
    assert _cycles() == []


def test_the_cycle_check_finds_a_cycle(tmp_path: Path) -> None:
    """The checker itself: two modules importing each other are reported."""
    package = tmp_path / "confide"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from confide import b\n")
    (package / "b.py").write_text("def f():\n    from confide.a import x\n")
    (package / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from confide import a\n"
    )
    import tests.test_architecture as me

    original = me.PACKAGE
    me.PACKAGE = package
    try:
        assert me._cycles() == [["confide.a", "confide.b"]]
    finally:
        me.PACKAGE = original


def test_no_module_is_over_450_lines() -> None:
    long = {
        path.relative_to(PACKAGE).as_posix(): n
        for path in PACKAGE.rglob("*.py")
        if "migrations" not in path.parts
        and (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_no_transport_writes_the_audit_ledger() -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith(TRANSPORT) and LEDGER_WRITE.search(path.read_text()):
            offenders.append(relative)
    assert offenders == []


def test_every_exception_class_is_in_the_tree_of_core_errors() -> None:
    """Errors and signals are declared once, in ``confide/core/errors.py``."""
    outside = []
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative == "core/errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(
                ast.unparse(base).split(".")[-1].endswith(("Exception", "Error", "Signal"))
                for base in node.bases
            ):
                outside.append(f"{relative}:{node.name}")
    assert outside == []
