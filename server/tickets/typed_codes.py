"""What an attendant typed, pasted or scanned, read as the code it was meant to be.

A code copied from an e-mail arrives wrapped over two lines, with a sentence's full stop,
in quotes, or typed in lower case on a phone keyboard that adds a space after a dash. None
of that makes a genuine ticket false: whitespace anywhere and punctuation around the code
are dropped. The long code is case-sensitive base64url, so only the short code is read
case-blind (server/tickets/short_codes.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from server.tickets.codes import ParsedCode, parse_code
from server.tickets.short_codes import read_short_code

_WHITESPACE = re.compile(r"\s+")
# Around a code, never inside one: "-" and "_" are base64url characters, so they stay.
_AROUND = ".,;:!?\"'`()[]{}<>\u00ab\u00bb\u201c\u201d\u2018\u2019"
# Far longer than either code with generous spacing: anything past it is not a code.
MAX_TYPED_LENGTH = 256


@dataclass(frozen=True)
class TypedCode:
    """Exactly one of the two is set."""

    long: ParsedCode | None = None
    short: str | None = None


def read_typed_code(raw: str) -> TypedCode | None:
    if len(raw) > MAX_TYPED_LENGTH:
        return None
    text = _WHITESPACE.sub("", raw).strip(_AROUND)
    parsed = parse_code(text)
    if parsed is not None:
        return TypedCode(long=parsed)
    short = read_short_code(text)
    return TypedCode(short=short) if short is not None else None
