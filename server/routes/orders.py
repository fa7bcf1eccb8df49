"""Status routes: the document, the long poll and the event stream. No personal data here."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.routes.held import events_route, shaped_order_id, unknown_order, wait_route
from server.services import services

NO_STORE = {"Cache-Control": "no-store"}


def _json(body: str) -> Response:
    # Status documents arrive already encoded: send the bytes as they are.
    return Response(body, media_type="application/json", headers=NO_STORE)


async def get_order(request: Request) -> Response:
    order_id = shaped_order_id(request.path_params["order_id"])
    update = await services(request).reader.get(order_id)
    if update is None:
        raise unknown_order(order_id)
    return _json(update.json)


routes = [
    Route("/api/orders/{order_id}", get_order, methods=["GET"]),
    # Bare ASGI apps, usually reached through HeldRoutesFastPath (server/routes/held.py).
    wait_route,
    events_route,
]
