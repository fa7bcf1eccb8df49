"""JSON text of the service's own values, compact and in UTF-8, encoded by orjson.

For what is encoded once per payment or more: the status document every waiter is handed,
the outbox's payloads, the webhook's answer. The standard library took 12 µs for a status
document that orjson encodes in 1 (docs/CHOICES.md, "orjson for the payment's JSON").

The text differs from `json.dumps(value, separators=(",", ":"))` only where that escapes: it
keeps non-ASCII characters as they are (the wire is UTF-8 everywhere) and never writes NaN.
Keys must be strings, and a value that is not JSON is a TypeError, as in the library.

Requests' bodies are not parsed here: what a client or PayHero sends stays with the standard
library's parser, whose every refusal the routes already answer (routes/bodies.py).

On floor 0 (docs/DESIGN.md): it imports nothing of the service.
"""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["compact_json", "parse_own_json"]


def compact_json(value: object) -> str:
    """`value` as compact JSON text (orjson's refusal is a TypeError, as the library's)."""
    return orjson.dumps(value).decode("utf-8")


def parse_own_json(text: str | bytes) -> Any:
    """JSON text this service wrote itself (a stored payload, a status document), decoded."""
    return orjson.loads(text)
