"""Ticket routes: the QR images, and the gate's verify and check-in. No personal data here:
the answers name the event and ticket type, never the buyer."""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server.http_errors import ApiError
from server.routes.auth import bearer_matches
from server.routes.bodies import read_json_body
from server.routes.checkout_api import client_address
from server.routes.params import opaque_id_shaped
from server.services import services
from server.status.bells import door_channel
from server.tickets.gate import AlreadyCheckedIn, EventOver, NotGenuine
from server.tickets.gate_limits import GateLimited
from server.tickets.qr import qr_png, qr_svg
from server.tickets.qr_images import etag_matches, image_etag
from server.tickets.typed_codes import MAX_TYPED_LENGTH
from server.transitions import TICKET_CODE
from server.urls import IMAGE_CACHE_CONTROL, TICKET_CHECK_IN, TICKET_QR_PNG, TICKET_QR_SVG, TICKET_VERIFY

NO_STORE = {"Cache-Control": "no-store"}
# A ticket's image never changes. `private`: it is the ticket, kept off shared caches.
MAX_CHECK_IN_BODY = 1024
MAX_GATE_NAME = 40


def _not_genuine() -> ApiError:
    # One answer for every way a code can be wrong: a prober learns nothing from it.
    return ApiError(
        404, "ticket_not_valid", "This code is not a valid ticket.", genuine=False, headers=NO_STORE
    )


def _code(raw: object) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise ApiError(400, "invalid_parameter", "code is required", fields={"code": "is required"})
    if len(raw) > MAX_TYPED_LENGTH:
        raise _not_genuine()
    return raw


def gate_name_of(raw: object) -> str | None:
    """The door a device says it is, as its attendant typed it once: optional, short, plain."""
    if raw is None:
        return None
    name = raw.strip() if isinstance(raw, str) else ""
    if not name or len(name) > MAX_GATE_NAME or not name.isprintable():
        raise ApiError(
            400,
            "invalid_parameter",
            f"gate must be a name of 1 to {MAX_GATE_NAME} characters",
            fields={"gate": f"1 to {MAX_GATE_NAME} characters"},
        )
    return name


def _limited(exc: GateLimited) -> ApiError:
    return ApiError(
        429,
        "too_many_requests",
        "Too many ticket checks in a short time: wait a moment, then try again.",
        headers={"Retry-After": str(exc.retry_after), **NO_STORE},
        limit=exc.limit,
        retry_after=exc.retry_after,
    )


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
    svc = services(request)
    # Anyone may verify a QR's long code; a short code only with a gate token, so guessing
    # one is limited per token as well as per address (docs/OPERATIONS.md).
    staff = bool(svc.settings.gate_tokens) and bearer_matches(request, svc.settings.gate_tokens)
    token = request.headers["authorization"].partition(" ")[2].strip() if staff else None
    try:
        await svc.gate_limits.take(client_address(request), token)
        check = await svc.gate.verify(code, allow_short=staff)
    except GateLimited as exc:
        raise _limited(exc) from None
    except NotGenuine:
        raise _not_genuine() from None
    return JSONResponse(check.body(), headers=NO_STORE)


def gate_staff_only(request: Request, tokens: tuple[str, ...]) -> str:
    """The gate token the request carries, if it is one of `tokens`. Check-in burns a
    ticket, and a code is on every screenshot and forwarded e-mail of it: only the gate's
    staff, holding a GATE_TOKEN, may check one in."""
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
    return request.headers["authorization"].partition(" ")[2].strip()


async def check_in_ticket(request: Request) -> Response:
    svc = services(request)
    token = gate_staff_only(request, svc.settings.gate_tokens)
    # Strict UTF-8 JSON only, and a 400 for brackets nested past Python's recursion limit.
    body = await read_json_body(request, MAX_CHECK_IN_BODY)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", 'The body must be a JSON object like {"code": "..."}.')
    code = _code(body.get("code"))
    gate_name = gate_name_of(body.get("gate"))
    try:
        await svc.gate_limits.take(client_address(request), token)
        check = await svc.gate.check_in(code, gate_name)
    except GateLimited as exc:
        raise _limited(exc) from None
    except NotGenuine:
        raise _not_genuine() from None
    except AlreadyCheckedIn as exc:
        where = f" at the {exc.check.checked_in_gate} gate" if exc.check.checked_in_gate else ""
        raise ApiError(
            409,
            "already_checked_in",
            f"This ticket was already checked in at {exc.check.body()['checked_in_at']}{where}.",
            ticket=exc.check.body(),
            headers=NO_STORE,
        ) from None
    except EventOver as exc:
        raise ApiError(
            409,
            "event_over",
            "This ticket's event is over: the gate no longer admits it.",
            ticket=exc.check.body(),
            headers=NO_STORE,
        ) from None
    # The organiser's desk counts check-ins live.
    await services(request).hub.bells.ring(door_channel(check.event_slug))
    # Committed: every gate's count moves (it never fails the check-in).
    svc.admitted.announce_soon(check.event_slug)
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
