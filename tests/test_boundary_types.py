"""No `dict[str, Any]` (nor `Mapping[str, Any]`) on anything public in `server/` (issue 23).

Such a type says "a dict of anything": a key misspelt where it is built or read, or a value
that is not JSON, shows up at run time, in another package. Data with a known shape is a
TypedDict or a dataclass; an open JSON document is `server.json_types.JSONObject`. Read from
the source, as tests/test_import_cycles.py reads imports: every public function's and
method's parameters and return, every public class's annotated attributes (dataclass fields,
TypedDict keys, `self.x: T` in its methods) and every public module-level annotation or
type alias, nested anywhere in the annotation (`list[dict[str, Any]]`, `Callable[[Mapping[str,
Any]], ...]`). Private names (`_x`) are a module's own business and are not looked at.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SERVER = Path(__file__).resolve().parent.parent / "server"

_MAPPINGS = {"dict", "Dict", "Mapping", "MutableMapping"}

# (module, qualified name): public annotations allowed to keep a mapping of anything. None
# now: the outbox payloads the composer reads are TypedDicts too (server/mail/kinds.py).
ALLOWED: set[tuple[str, str]] = set()


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):  # typing.Dict, collections.abc.Mapping, typing.Any
        return node.attr
    return None


def _mapping_of_anything(annotation: ast.expr | None, aliases: set[str]) -> bool:
    """Whether `dict[str, Any]`, `Mapping[str, Any]` (or an alias of one) is anywhere in it."""
    if annotation is None:
        return False
    for node in ast.walk(annotation):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            # A quoted annotation, or a quoted part of one.
            try:
                quoted = ast.parse(node.value, mode="eval").body
            except SyntaxError:
                continue
            if _mapping_of_anything(quoted, aliases):
                return True
        if isinstance(node, ast.Name) and node.id in aliases:
            return True
        if isinstance(node, ast.Subscript) and _name(node.value) in _MAPPINGS:
            args = node.slice.elts if isinstance(node.slice, ast.Tuple) else []
            if len(args) == 2 and _name(args[0]) == "str" and _name(args[1]) == "Any":
                return True
    return False


def _aliases(tree: ast.Module) -> set[str]:
    """Module-level names bound to a mapping of anything (`Row = dict[str, Any]`)."""
    found = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and _mapping_of_anything(value, set()):
            found.add(target.id)
    return found


def _public(name: str) -> bool:
    return not name.startswith("_") or (name.startswith("__") and name.endswith("__"))


def _signature(function: ast.FunctionDef | ast.AsyncFunctionDef) -> Iterator[ast.expr | None]:
    arguments = function.args
    for argument in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs):
        yield argument.annotation
    for star in (arguments.vararg, arguments.kwarg):
        if star is not None:
            yield star.annotation
    yield function.returns


def _public_annotations(tree: ast.Module) -> Iterator[tuple[str, ast.expr | None]]:
    """(qualified name, annotation) of everything public the module declares."""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and _public(node.name):
            for annotation in _signature(node):
                yield node.name, annotation
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            if _public(node.target.id):
                yield node.target.id, node.annotation
        elif isinstance(node, ast.ClassDef) and _public(node.name):
            yield from _class_annotations(node, node.name)


def _class_annotations(cls: ast.ClassDef, qualified: str) -> Iterator[tuple[str, ast.expr | None]]:
    for node in cls.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            # A dataclass field, a TypedDict key, a NamedTuple field, a declared attribute.
            if _public(node.target.id):
                yield f"{qualified}.{node.target.id}", node.annotation
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if _public(node.name):
                for annotation in _signature(node):
                    yield f"{qualified}.{node.name}", annotation
            # `self.x: T = …` in any method makes `x` an attribute of the instances.
            for inner in ast.walk(node):
                if (
                    isinstance(inner, ast.AnnAssign)
                    and isinstance(inner.target, ast.Attribute)
                    and isinstance(inner.target.value, ast.Name)
                    and inner.target.value.id == "self"
                    and _public(inner.target.attr)
                ):
                    yield f"{qualified}.{inner.target.attr}", inner.annotation
        elif isinstance(node, ast.ClassDef) and _public(node.name):
            yield from _class_annotations(node, f"{qualified}.{node.name}")


def _violations(module: str, source: str) -> set[tuple[str, str]]:
    tree = ast.parse(source)
    aliases = _aliases(tree)
    found = {
        (module, name)
        for name, annotation in _public_annotations(tree)
        if _mapping_of_anything(annotation, aliases)
    }
    found |= {(module, alias) for alias in aliases if _public(alias)}
    return found


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SERVER.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _server_violations() -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for path in sorted(SERVER.rglob("*.py")):
        found |= _violations(_module_name(path), path.read_text(encoding="utf-8"))
    return found


def test_nothing_public_in_server_is_a_mapping_of_anything() -> None:
    assert sorted(_server_violations() - ALLOWED) == []


def test_every_allowed_case_is_still_there() -> None:
    # Once one is typed, its line here goes too: the list never allows more than it must.
    assert sorted(ALLOWED - _server_violations()) == []


SAMPLE = """
from typing import Any, Dict
import typing
from collections.abc import Callable, Mapping

Blob = dict[str, Any]

def answer(body: "dict[str, Any]") -> int: ...
def rows() -> list[Mapping[str, Any]]: ...
def derive(make: Callable[[typing.Dict[str, typing.Any]], int]) -> None: ...
def by_alias(blob: Blob) -> None: ...
def _private(body: dict[str, Any]) -> dict[str, Any]: ...
def fine(body: dict[str, object], counts: dict[str, int]) -> Mapping[str, str]: ...

class Row:
    fields: Dict[str, Any]
    _cache: dict[str, Any]

    def __init__(self, options: dict[str, Any]) -> None:
        self.options: dict[str, Any] = options
        self._kept: dict[str, Any] = options

    def _helper(self) -> dict[str, Any]: ...

class _Private:
    everything: dict[str, Any]
"""


def test_the_check_sees_each_kind_of_declaration() -> None:
    assert sorted(name for _, name in _violations("sample", SAMPLE)) == [
        "Blob",
        "Row.__init__",
        "Row.fields",
        "Row.options",
        "answer",
        "by_alias",
        "derive",
        "rows",
    ]
