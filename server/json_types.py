"""JSON as a type: what `json.loads` hands back and `json.dumps` takes, and nothing else.

For documents whose shape is open by nature (an OpenAPI fragment, PayHero's answer kept as
received, a request body before it is validated): the type then says "JSON", not "anything",
so a datetime or a set put in one is a mypy error rather than a TypeError in `json.dumps` at
run time. Data with a known shape gets a TypedDict or a dataclass of its own instead.

On floor 0 (docs/DESIGN.md): it imports nothing, and every package above that floor may use it.
"""

from __future__ import annotations

from typing import TypeAlias

__all__ = ["JSONObject", "JSONValue"]

# The quoted names refer to the alias itself, which mypy (strict) reads as a recursive
# alias; at run time they stay forward references, never evaluated.
JSONValue: TypeAlias = str | int | float | bool | list["JSONValue"] | dict[str, "JSONValue"] | None
JSONObject: TypeAlias = dict[str, JSONValue]
