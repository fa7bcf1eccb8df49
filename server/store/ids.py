"""The random keys of the store's rows that leave it: order and ticket ids.

URL-safe and unguessable (DESIGN rule 7), and never starting with "-": an operator pastes
them into `python -m server complete-order <order>` or `verify-ticket <code>`, and a
command line reads "-x3F…" as an option, not as the id (a test met one in 40 runs).
"""

from __future__ import annotations

import secrets


def random_id(nbytes: int) -> str:
    """`secrets.token_urlsafe(nbytes)`, drawn again when it starts with "-" (1 in 64)."""
    while True:
        candidate = secrets.token_urlsafe(nbytes)
        if not candidate.startswith("-"):
            return candidate
