"""Ticket routes: the QR images, and the gate's verify and check-in. No personal data here:
the answers name the event and ticket type, never the buyer."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server.http_errors import ApiError
from server.routes.auth import bearer_matches
from server.routes.bodies import read_json_body
from server.routes.params import opaque_id_shaped
from server.services import services
from server.status.bells import door_channel
from server.store.prepared import Prepared
from server.store.tables import tickets
from server.tickets.codes import MAX_CODE_LENGTH
from server.tickets.gate import AlreadyCheckedIn, NotGenuine
from server.tickets.qr import qr_png, qr_svg
from server.tickets.qr_images import etag_matches, image_etag
from server.urls import IMAGE_CACHE_CONTROL, TICKET_CHECK_IN, TICKET_QR_PNG, TICKET_QR_SVG, TICKET_VERIFY

NO_STORE = {"Cache-Control": "no-store"}
TICKET_CODE = Prepared(sa.select(tickets.c.code).where(tickets.c.id == sa.bindparam("ticket_id")))
# A ticket's image never changes. `private`: it is the ticket, kept off shared caches.
MAX_CHECK_IN_BODY = 1024


def _not_genuine() -> ApiError:
    # One answer for every way a code can be wrong: a prober learns nothing from it.
    return ApiError(
        404, "ticket_not_valid", "This code is not a valid ticket.", genuine=False, headers=NO_STORE
    )


def _code(raw: object) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise ApiError(400, "invalid_parameter", "code is required", fields={"code": "is required"})
    if len(raw) > MAX_CODE_LENGTH * 2:
        raise _not_genuine()
    return raw.strip()


async def _qr(request: Request, render: Callable[[str], bytes], media_type: str) -> Response:
    ticket_id = request.path_params["ticket_id"]
    images = services(request).qr_images
    image = images.cached(media_type, ticket_id)
    if image is None:
        if not opaque_id_shaped(ticket_id):
            # Never reaches the database: PostgreSQL answers a NUL byte with an error (a 500).
            raise ApiError(404, "ticket_not_found", "No paid ticket has this id.", ticket_id=ticket_id[:64])
        code = await services(request).database.fetch_val(TICKET_CODE.bind(ticket_id=ticket_id))
        # An unpaid ticket has no code yet: it has no QR either, and gets the same 404.
        if code is None:
            raise ApiError(404, "ticket_not_found", "No paid ticket has this id.", ticket_id=ticket_id)
        etag = image_etag(media_type, code)
        if etag_matches(request.headers.get("if-none-match"), etag):
            return Response(status_code=304, headers={"ETag": etag, "Cache-Control": IMAGE_CACHE_CONTROL})
        image = await images.draw(media_type, ticket_id, code, render)
    headers = {"ETag": image.etag, "Cache-Control": IMAGE_CACHE_CONTROL}
    if etag_matches(request.headers.get("if-none-match"), image.etag):
        return Response(status_code=304, headers=headers)
    return Response(image.body, media_type=media_type, headers=headers)


async def ticket_qr_png(request: Request) -> Response:
    return await _qr(request, qr_png, "image/png")


async def ticket_qr_svg(request: Request) -> Response:
    return await _qr(request, qr_svg, "image/svg+xml")


async def verify_ticket(request: Request) -> Response:
    code = _code(request.query_params.get("code"))
    try:
        check = await services(request).gate.verify(code)
    except NotGenuine:
        raise _not_genuine() from None
    return JSONResponse(check.body(), headers=NO_STORE)


def _gate_staff_only(request: Request, tokens: tuple[str, ...]) -> None:
    """Check-in burns a ticket, and a code is on every screenshot and forwarded e-mail of
    it: only the gate's staff, holding a GATE_TOKEN, may check one in."""
    if not tokens:
        raise ApiError(
            503,
            "check_in_disabled",
            "Check-in is turned off: the service has no GATE_TOKEN configured.",
            headers=NO_STORE,
        )
    if not bearer_matches(request, tokens):
        raise ApiError(
            401,
            "unauthorized",
            "Check-in needs a gate staff token (Authorization: Bearer ...).",
            headers={"WWW-Authenticate": "Bearer", **NO_STORE},
        )


async def check_in_ticket(request: Request) -> Response:
    _gate_staff_only(request, services(request).settings.gate_tokens)
    # Strict UTF-8 JSON only, and a 400 for brackets nested past Python's recursion limit.
    body = await read_json_body(request, MAX_CHECK_IN_BODY)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", 'The body must be a JSON object like {"code": "..."}.')
    code = _code(body.get("code"))
    try:
        check = await services(request).gate.check_in(code)
    except NotGenuine:
        raise _not_genuine() from None
    except AlreadyCheckedIn as exc:
        raise ApiError(
            409,
            "already_checked_in",
            f"This ticket was already checked in at {exc.check.body()['checked_in_at']}.",
            ticket=exc.check.body(),
            headers=NO_STORE,
        ) from None
    # The organiser's desk counts check-ins live.
    await services(request).hub.bells.ring(door_channel(check.event_slug))
    return JSONResponse(check.body(), headers=NO_STORE)


# Also answered past the Router once drawn (server/routes/qr_fast.py), labelled as these.
qr_routes = {
    "png": Route(TICKET_QR_PNG, ticket_qr_png, methods=["GET"]),
    "svg": Route(TICKET_QR_SVG, ticket_qr_svg, methods=["GET"]),
}
routes = [
    Route(TICKET_VERIFY, verify_ticket, methods=["GET"]),
    Route(TICKET_CHECK_IN, check_in_ticket, methods=["POST"]),
    *qr_routes.values(),
]
