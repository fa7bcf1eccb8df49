"""One variable's declaration, and the converters and bounds the declarations share.

A `var(...)` in `Settings` is the only place a variable's name, default, converter, bound,
secrecy and documentation are written; the parser, the validation and docs/SETTINGS.md's table
(`server/settings/doc_table.py`) all read them from the dataclass fields' metadata.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, dataclass_transform

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T")
D = TypeVar("D", bound="DataclassInstance")

MIN_TOKEN_LENGTH = 32


class SettingsError(ValueError):
    """Configuration values missing or malformed: one sentence per problem, each naming its
    variable, so an operator sees every bad variable at once (`problems`, one per line)."""

    def __init__(self, *problems: str) -> None:
        self.problems: tuple[str, ...] = problems
        super().__init__("\n".join(problems))


class Earlier:
    """The values of the variables declared before a derived default, each read as the type
    its field declares: `derive=lambda v: max(28.0, v.of("wait_timeout", float))`."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, object]) -> None:
        self._values = values

    def of(self, name: str, kind: type[T]) -> T:
        """Field `name`'s value; TypeError if it is not a `kind` (a declaration out of order)."""
        value = self._values[name]
        if not isinstance(value, kind):
            raise TypeError(f"{name} is {type(value).__name__}, not {kind.__name__}")
        return value


@dataclass(frozen=True)
class Var:
    env: str
    doc: str
    # From the environment's text to the value (may normalise); raises ValueError.
    parse: Callable[[str], Any]
    # On the typed value, from the environment or from `with_overrides`; raises ValueError.
    check: Callable[[Any], object] | None
    secret: bool
    # The default as docs/SETTINGS.md says it, where the value alone would mislead.
    shown: str | None
    # A default computed from the variables declared before it (by field name).
    derive: Callable[[Earlier], Any] | None


def var(
    env: str,
    *,
    default: T,
    doc: str,
    parse: Callable[[str], Any] | None = None,
    check: Callable[[Any], object] | None = None,
    secret: bool = False,
    shown: str | None = None,
    derive: Callable[[Earlier], Any] | None = None,
) -> T:
    """Declare a settings field read from `env`; secrets stay out of repr and messages."""
    declared = Var(env, doc, parse or _by_type(default), check, secret, shown, derive)
    made: T = dataclasses.field(default=default, repr=not secret, metadata={"var": declared})
    return made


def _by_type(default: object) -> Callable[[str], Any]:
    # bool before int: a bool is an int.
    for kind, convert in ((bool, _bool), (int, int), (float, float), (str, str), (Path, Path)):
        if isinstance(default, kind):
            return convert
    raise TypeError(f"say how to parse a variable whose default is {default!r}")


def declared(cls: type) -> Iterator[tuple[str, Var]]:
    for field in dataclasses.fields(cls):
        yield field.name, field.metadata["var"]


def _named(declaration: Var, value: object, exc: Exception) -> SettingsError:
    shown = "" if declaration.secret else f"={value!r}"
    return SettingsError(f"{declaration.env}{shown} is not valid: {exc}")


def parse_each(cls: type[D], lookup: Callable[[str], str | None]) -> tuple[D, list[str]]:
    """`cls` made from each declared field's variable (unset or blank: the (derived) default),
    and one sentence per variable that did not parse: it takes its default instead, so that
    the rules between variables can still be checked on the rest. A SettingsError from
    `cls` itself names those variables too."""
    # Each field's value, of the type its parser (or its default) gives: `cls` takes them by name.
    values: dict[str, object] = {}
    problems: list[str] = []
    for field in dataclasses.fields(cls):
        declaration: Var = field.metadata["var"]
        raw = lookup(declaration.env)
        if raw is None or raw.strip() == "":
            values[field.name] = declaration.derive(Earlier(values)) if declaration.derive else field.default
            continue
        try:
            values[field.name] = declaration.parse(raw.strip())
        except (TypeError, ValueError) as exc:
            problems.append(str(_named(declaration, raw, exc)))
            values[field.name] = declaration.derive(Earlier(values)) if declaration.derive else field.default
    try:
        made = cls(**values)
    except SettingsError as refused:
        # A variable that did not parse took its default: a rule may complain of that
        # default too, which says nothing new.
        raise SettingsError(*problems, *refused.problems) from None
    return made, problems


# (field, value) pairs already accepted: tests build hundreds of settings by `with_overrides`,
# and re-checking FORWARDED_ALLOW_IPS's networks each time was 270 us of about 280 per copy.
_ACCEPTED: set[tuple[str, object]] = set()


def check_all(settings: object, declarations: tuple[tuple[str, Var], ...]) -> list[str]:
    """Every declared bound on the values as they are (None: unset, never checked); returns
    one sentence per value out of bounds."""
    problems: list[str] = []
    for name, declaration in declarations:
        value = getattr(settings, name)
        if declaration.check is None or value is None or (name, value) in _ACCEPTED:
            continue
        try:
            declaration.check(value)
        except (TypeError, ValueError) as exc:
            problems.append(str(_named(declaration, value, exc)))
            continue
        if len(_ACCEPTED) > 4096:  # a bound on memory, never reached by one deployment
            _ACCEPTED.clear()
        _ACCEPTED.add((name, value))
    return problems


def positive(value: float) -> None:
    if not value > 0:
        raise ValueError("must be a number greater than 0")


def non_negative(value: float) -> None:
    if not value >= 0:
        raise ValueError("must be a number, 0 or more")


def positive_int(value: int) -> None:
    if value <= 0:
        raise ValueError("must be a whole number greater than 0")


def non_negative_int(value: int) -> None:
    if value < 0:
        raise ValueError("must be a whole number, 0 or more (0: no limit)")


def port_range(value: int) -> None:
    if not 0 < value < 65536:
        raise ValueError("must be between 1 and 65535")


def long_token(value: str) -> None:
    """Empty: unset (made at start-up, `Settings.resolve_secrets`); otherwise 32+ characters."""
    if value and len(value) < MIN_TOKEN_LENGTH:
        raise ValueError(f"must be at least {MIN_TOKEN_LENGTH} characters")


def one_of(*allowed: str) -> Callable[[str], None]:
    def check(value: str) -> None:
        if value not in allowed:
            raise ValueError(f"use {', '.join(allowed[:-1])} or {allowed[-1]}")

    return check


def _bool(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError("must be true or false")


def http_url(raw: str) -> str:
    if not raw.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    return raw.rstrip("/")


@dataclass_transform(frozen_default=True, field_specifiers=(var,))
def declared_settings(cls: type[T]) -> type[T]:
    """A frozen dataclass whose fields are `var(...)` declarations (mypy reads their defaults)."""
    return dataclass(frozen=True)(cls)
