"""Who is at the desk: a DESK_TOKEN's name, from `Authorization: Bearer <token>`."""

from __future__ import annotations

import hmac

from starlette.requests import Request

from server.http_errors import ApiError

NO_STORE = {"Cache-Control": "no-store"}


def desk_staff(request: Request, tokens: tuple[tuple[str, str], ...]) -> str:
    """The name of the desk token offered, or a JSON 401 (503 when none is configured).

    Every token is compared, each in constant time, so the answer's timing tells a guesser
    neither how much of a token was right nor which one came close.
    """
    if not tokens:
        raise ApiError(
            503,
            "desk_disabled",
            "The organiser's desk is turned off: the service has no DESK_TOKEN configured.",
            headers=NO_STORE,
        )
    scheme, _, offered = request.headers.get("authorization", "").partition(" ")
    given = offered.strip().encode()
    found = ""
    for name, token in tokens:
        if hmac.compare_digest(given, token.encode()):
            found = name
    if scheme.lower() != "bearer" or not found:
        raise ApiError(
            401,
            "unauthorized",
            "The desk needs an organiser's token (Authorization: Bearer ...).",
            headers={"WWW-Authenticate": "Bearer", **NO_STORE},
        )
    return found
