"""Each package of `server/` has a public surface, and other packages use only it.

As httpx's exported-members test: a package's `__init__` lists in `__all__` what other
packages may use, every name listed exists and is documented, and nothing public is there
unlisted. Across packages (read from the source, as tests/test_import_cycles.py does) an
import names only what the target package lists; it may name it from the submodule that
defines it (`from server.store.tables import orders`), which keeps `__init__` a list and
the type checker's view of the definition. A module of the same package imports what it
likes: the surface is between packages, not inside one.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import types
from pathlib import Path

import pytest

SERVER = Path(__file__).resolve().parent.parent / "server"
PACKAGES = sorted(
    f"server.{path.parent.name}" for path in SERVER.glob("*/__init__.py") if path.parent.name != "__pycache__"
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SERVER.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _package_of(module: str) -> str:
    return ".".join(module.split(".")[:2])


def test_every_directory_of_server_is_a_package_with_an_init() -> None:
    code_dirs = {path.parent for path in SERVER.glob("*/*.py")}
    assert sorted(d.name for d in code_dirs if not (d / "__init__.py").exists()) == []


@pytest.mark.parametrize("name", PACKAGES)
def test_all_lists_exactly_the_public_names_and_each_is_documented(name: str) -> None:
    package = importlib.import_module(name)
    assert inspect.getdoc(package), f"{name} says in its docstring what it owns"
    listed = getattr(package, "__all__", None)
    assert listed is not None, f"{name}/__init__.py has no __all__"
    assert len(set(listed)) == len(listed)
    missing = [member for member in listed if not hasattr(package, member)]
    assert missing == [], f"{name}.__all__ names what it does not have"
    # Public names the package holds but does not list: its submodules (bound once imported)
    # are reached through their own names, and `annotations` is the __future__ import.
    unlisted = [
        member
        for member, value in vars(package).items()
        if not member.startswith("_")
        and member not in listed
        and member != "annotations"
        and not isinstance(value, types.ModuleType)
    ]
    assert unlisted == [], f"{name} holds public names it does not list in __all__"
    undocumented = [
        member
        for member in listed
        if inspect.isclass(value := getattr(package, member)) or inspect.isfunction(value)
        if not inspect.getdoc(value)
    ]
    assert undocumented == [], f"{name} exports classes or functions with no docstring"


def _cross_package_imports() -> list[tuple[str, str, str]]:
    """(importing module, target package, name) for every import across packages."""
    found = []
    for path in sorted(SERVER.rglob("*.py")):
        importer = _module_name(path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("server.") and alias.name.count(".") >= 2:
                        found.append((importer, _package_of(alias.name), f"import {alias.name}"))
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                target = _package_of(node.module)
                if target in PACKAGES and target != _package_of(importer):
                    found.extend((importer, target, alias.name) for alias in node.names)
    return found


def test_packages_import_from_each_other_only_what_is_listed() -> None:
    public = {name: set(importlib.import_module(name).__all__) for name in PACKAGES}
    outside = [
        f"{importer} imports {name} from {target}, not in its __all__"
        for importer, target, name in _cross_package_imports()
        if name not in public[target]
    ]
    assert outside == []


def test_the_check_sees_imports_across_packages() -> None:
    seen = {(importer, target) for importer, target, _ in _cross_package_imports()}
    assert ("server.app", "server.routes") in seen
    assert ("server.transitions.changes", "server.store") in seen
