"""Bearer tokens on the routes that want one: `/metrics` and the gate's check-in."""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from starlette.requests import Request


def bearer_matches(request: Request, tokens: Sequence[str]) -> bool:
    """Whether `Authorization: Bearer <token>` names one of `tokens`.

    Every token is compared, each in constant time, so the answer's timing tells a guesser
    neither how much of a token was right nor which token came close.
    """
    scheme, _, offered = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    given = offered.strip().encode()
    matched = False
    for token in tokens:
        matched |= hmac.compare_digest(given, token.encode())
    return matched
