"""No import cycle in `server/`, between modules or between packages.

Imports under `if TYPE_CHECKING:` count too: a cycle that only the type checker follows still
ties two modules together, and is one edit away from a circular import at start-up. Between
packages (`server.status` and `server.store`, say) a cycle means neither can be understood,
tested or moved without the other, even when no single module imports itself back.
"""

from __future__ import annotations

import ast
from pathlib import Path

SERVER = Path(__file__).resolve().parent.parent / "server"


def _modules() -> dict[str, Path]:
    found = {}
    for path in SERVER.rglob("*.py"):
        parts = list(path.relative_to(SERVER.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    named: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            named.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            named.add(base)
            named.update(f"{base}.{alias.name}" for alias in node.names)
    return {other for other in named if other in known and other != name}


def _graph(group: int | None) -> dict[str, set[str]]:
    """Module imports, or with `group` each module stands for its first `group` name parts."""
    modules = _modules()

    def node(name: str) -> str:
        return name if group is None else ".".join(name.split(".")[:group])

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = {node(other) for other in _imports(name, path, set(modules))}
        graph.setdefault(node(name), set()).update(targets - {node(name)})
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one member (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_itself_back() -> None:
    assert _cycles(_graph(None)) == []


def test_no_package_of_server_imports_itself_back() -> None:
    # server.status, server.store, server.ops, ...; a top-level module such as
    # server.services stands for itself.
    assert _cycles(_graph(2)) == []


def test_the_check_sees_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


# The floors of docs/DESIGN.md's map, lowest first: a package imports only from floors below
# its own. With no import upward there is no call upward either, except through what a lower
# floor is handed at construction; DESIGN.md names the one such hand-over (the hub's metrics
# observer) and the pipeline's steps are named types built on the floor that owns them.
FLOORS: tuple[frozenset[str], ...] = tuple(
    frozenset(f"server.{name}" for name in floor.split())
    for floor in (
        "clock lifecycle languages urls sales_window faults logs private_files settings broker shutdown"
        " webfiles json_types json_text",
        "store schemas payhero web_encoding abuse",
        "catalogue",
        "event_calendar tickets",
        "status",
        "mail",
        "transitions fulfilment",
        "payments",
        "orders desk",
        "http_errors",
        "ops",
        "services launcher",
        "routes",
        "app",
        "cli",
        "__main__",
    )
)


def _floor_of(package: str) -> int:
    for number, floor in enumerate(FLOORS):
        if package in floor:
            return number
    raise AssertionError(f"{package} is on no floor: add it to FLOORS and to docs/DESIGN.md's map")


def test_every_package_imports_only_from_floors_below_its_own() -> None:
    upward = [
        f"{package} (floor {_floor_of(package)}) imports {target} (floor {_floor_of(target)})"
        for package, targets in sorted(_graph(2).items())
        if package != "server"
        # `from server import urls` names the bare package too: its module is what counts.
        for target in sorted(targets - {"server"})
        if _floor_of(target) >= _floor_of(package)
    ]
    assert upward == []


def test_the_floor_check_sees_an_upward_import() -> None:
    assert _floor_of("server.status") > _floor_of("server.store")
    assert _floor_of("server.transitions") > _floor_of("server.status")
