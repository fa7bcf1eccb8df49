"""`GET /api/orders/{order_id}/calendar.ics`: the order's event for the customer's calendar.

Keyed by the order (the ticket page knows its order, not the catalogue), answered with the
event only: nothing in the file says who bought (DESIGN rule 7).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.event_calendar import event_calendar
from server.http_errors import ApiError
from server.routes.held import shaped_order_id, unknown_order
from server.services import services
from server.urls import ORDER_CALENDAR


async def order_calendar(request: Request) -> Response:
    svc = services(request)
    order_id = shaped_order_id(request.path_params["order_id"])
    update = await svc.reader.get(order_id)
    if update is None:
        raise unknown_order(order_id)
    listed = update.document.get("event") or {}
    event = svc.catalogue.events.get(str(listed.get("slug", "")))
    if event is None:
        raise ApiError(404, "event_not_found", "This order's event is no longer listed.")
    domain = urlsplit(svc.settings.public_base_url).hostname or "localhost"
    return Response(
        event_calendar(event, domain),
        media_type="text/calendar; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{event.slug}.ics"',
            "Cache-Control": "no-store",
        },
    )


routes = [Route(ORDER_CALENDAR, order_calendar, methods=["GET"])]
