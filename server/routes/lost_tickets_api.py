""" "Lost your tickets?": `POST /api/tickets/lost`.

Always the same `202` for a well-formed request, whether the address or number is known or
not (server/orders/lost_tickets.py); a client asking too often gets a `429` that names no one.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server.http_errors import ApiError
from server.orders.lost_tickets import LostInvalid, LostLimited, parse_lost
from server.routes.bodies import read_json_body
from server.routes.checkout_api import client_address
from server.services import services
from server.urls import TICKETS_LOST

MAX_LOST_BODY = 1024
# The one answer: it says what happens if the address is known, and nothing about whether it is.
ACCEPTED = {
    "status": "accepted",
    "message": "If this address or number bought tickets, an e-mail with links to them is on its way.",
}


async def ask_for_lost_tickets(request: Request) -> Response:
    svc = services(request)
    body = await read_json_body(request, MAX_LOST_BODY)
    try:
        lost = parse_lost(body)
        await svc.lost_tickets.ask(lost, client_address(request))
    except LostInvalid as exc:
        raise ApiError(422, "validation_error", "Some fields need fixing.", fields=exc.fields) from exc
    except LostLimited as exc:
        raise ApiError(
            429,
            "too_many_requests",
            "Too many requests came from your network recently. Try again later.",
            headers={"Retry-After": str(exc.retry_after)},
            retry_after=exc.retry_after,
        ) from exc
    return JSONResponse(ACCEPTED, status_code=202)


routes = [Route(TICKETS_LOST, ask_for_lost_tickets, methods=["POST"])]
