"""Ticket codes: `<ticket_id>.<signature>`, short enough for a small QR, checkable by anyone
holding the signing key without a round trip to PayHero or the customer.

The signature is an HMAC-SHA256 over the ticket id *and* the event and ticket type it
admits to, so a genuine code cannot be carried to another event or upgraded to another
ticket type, and any altered character makes it fail (DESIGN rule 7). It is cut to 128
bits: still far beyond guessing, and it keeps the QR at a low version that scans easily.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

from server.tickets.short_codes import derive_short_code

# Ticket ids are `secrets.token_urlsafe(12)` (16 characters); allow some room, no dots.
_TICKET_ID = re.compile(r"^[A-Za-z0-9_-]{8,32}$")
SIGNATURE_BYTES = 16
_SIGNATURE = re.compile(r"^[A-Za-z0-9_-]{22}$")  # 16 bytes, base64url without padding
# Bumped if what is signed ever changes, so old and new codes cannot be confused.
_DOMAIN = b"payment-status ticket v1"
MAX_CODE_LENGTH = 64


@dataclass(frozen=True)
class ParsedCode:
    ticket_id: str
    signature: str


def parse_code(code: str) -> ParsedCode | None:
    """Split a code into its parts, or None when it does not even look like one."""
    if len(code) > MAX_CODE_LENGTH:
        return None
    ticket_id, sep, signature = code.partition(".")
    if not sep or not _TICKET_ID.match(ticket_id) or not _SIGNATURE.match(signature):
        return None
    return ParsedCode(ticket_id, signature)


class TicketSigner:
    """Signs with `key`; verifies a code signed with it or with any of `older` (rotation:
    `TICKET_SIGNING_KEYS`, new key first, so tickets sold before still scan)."""

    def __init__(self, key: str, *older: str) -> None:
        if not key:
            raise ValueError("a ticket signing key is required")
        self._key = key.encode("utf-8")
        self._keys = tuple(k.encode("utf-8") for k in dict.fromkeys((key, *older)) if k)

    def _signature(self, ticket_id: str, event_slug: str, ticket_type: str, key: bytes | None = None) -> str:
        message = b"\n".join(
            [_DOMAIN, *(part.encode("utf-8") for part in (ticket_id, event_slug, ticket_type))]
        )
        signing = self._key if key is None else key
        digest = hmac.new(signing, message, hashlib.sha256).digest()[:SIGNATURE_BYTES]
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def sign(self, ticket_id: str, event_slug: str, ticket_type: str) -> str:
        if not _TICKET_ID.match(ticket_id):
            raise ValueError("not a ticket id")
        return f"{ticket_id}.{self._signature(ticket_id, event_slug, ticket_type)}"

    def short_code(self, code: str, attempt: int = 0) -> str:
        """The short gate code of a signed `code`, derived with the same key."""
        return derive_short_code(self._key, code, attempt)

    def verify(self, parsed: ParsedCode, event_slug: str, ticket_type: str) -> bool:
        """True when `parsed` was signed with one of our keys for exactly this event and type."""
        given = parsed.signature.encode("ascii")
        # Constant time, and every key tried: a forger learns nothing from how long a wrong
        # guess took, nor which key came closest.
        matches = [
            hmac.compare_digest(
                self._signature(parsed.ticket_id, event_slug, ticket_type, key).encode(), given
            )
            for key in self._keys
        ]
        return any(matches)
