"""A ticket's own link: `/ticket/{share_id}`, for the holder, or a friend given that one ticket.

`share_id` is `<ticket id>.<mark>`, where the mark is 96 bits of SHA-256 over the ticket's
signed code. The code's signature needs the service's secret, so nobody can make a mark
for a ticket they do not hold; and whoever holds the link holds the ticket's QR anyway.
Nothing is stored: the id finds the ticket, the mark is checked against its code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

MARK_BYTES = 12


def _mark(code: str) -> str:
    digest = hashlib.sha256(b"ticket-share\0" + code.encode("utf-8")).digest()[:MARK_BYTES]
    return base64.urlsafe_b64encode(digest).decode("ascii")


def share_id(ticket_id: str, code: str) -> str:
    """A ticket's own link id: its id and a mark only the holder of its signed code can make."""
    return f"{ticket_id}.{_mark(code)}"


def split_share_id(value: str) -> tuple[str, str] | None:
    """(ticket id, mark) of a well-formed share id, else None."""
    ticket_id, dot, mark = value.partition(".")
    if not dot or not ticket_id or len(ticket_id) > 64 or len(mark) != MARK_BYTES * 4 // 3:
        return None
    return ticket_id, mark


def mark_matches(code: str, mark: str) -> bool:
    return hmac.compare_digest(_mark(code), mark)
