"""The organiser's desk API (`/api/desk/…`, DESK_TOKEN): figures, orders and their
stories, the review queue and its actions, tickets sent again, CSV exports. Each handler
parses, calls one function of `server/desk/`, and picks the answer."""

from __future__ import annotations

import dataclasses
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from server.desk.exports import attendees_csv, payments_csv
from server.desk.figures import read_door, read_sales
from server.desk.resend import resend_tickets
from server.desk.reviews import RECEIPT, ask_payhero, close_review, complete_order, review_queue
from server.desk.story import read_story, search_orders
from server.http_errors import ApiError
from server.routes.bodies import read_json_body, read_no_body
from server.routes.desk_auth import NO_STORE, desk_staff
from server.routes.desk_stream import live_figures
from server.routes.params import opaque_id_shaped
from server.services import services
from server.urls import (
    DESK_DOOR,
    DESK_EXPORT_ATTENDEES,
    DESK_EXPORT_PAYMENTS,
    DESK_LIVE,
    DESK_ME,
    DESK_ORDER,
    DESK_ORDER_ASK,
    DESK_ORDER_CLOSE,
    DESK_ORDER_COMPLETE,
    DESK_ORDER_RESEND,
    DESK_ORDERS,
    DESK_REVIEWS,
    DESK_SALES,
)

MAX_ACTION_BODY = 2048
MAX_QUERY = 254


def _staff(request: Request) -> str:
    return desk_staff(request, services(request).settings.desk_tokens)


def _json(content: Any, status_code: int = 200) -> Response:
    return JSONResponse(content, status_code=status_code, headers=NO_STORE)


def _order_id(request: Request) -> str:
    order_id = str(request.path_params["order_id"])
    if not opaque_id_shaped(order_id):
        raise _no_order(order_id[:64])
    return order_id


def _no_order(order_id: str) -> ApiError:
    return ApiError(404, "order_not_found", "No order has this id.", order_id=order_id, headers=NO_STORE)


def _text(body: object, name: str, *, required: bool, limit: int = 255) -> str:
    value = body.get(name) if isinstance(body, dict) else None
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise ApiError(422, "validation_error", f"{name} is required.", fields={name: "is required"})
    if len(value) > limit:
        raise ApiError(
            422, "validation_error", f"{name} is too long.", fields={name: f"at most {limit} characters"}
        )
    return value.strip()


async def me(request: Request) -> Response:
    return _json({"name": _staff(request)})


async def sales(request: Request) -> Response:
    _staff(request)
    found = await read_sales(services(request).database, services(request).catalogue)
    return _json({"events": [event.body() for event in found]})


async def door(request: Request) -> Response:
    _staff(request)
    found = await read_door(services(request).database, services(request).catalogue)
    return _json({"events": [event.body() for event in found]})


async def live(request: Request) -> Response:
    _staff(request)
    return live_figures(services(request))


async def orders(request: Request) -> Response:
    _staff(request)
    query = request.query_params.get("q", "")
    if len(query) > MAX_QUERY:
        raise ApiError(
            422, "validation_error", "q is too long.", fields={"q": f"at most {MAX_QUERY} characters"}
        )
    found = await search_orders(services(request).database, services(request).catalogue, query)
    if found is None:
        raise ApiError(
            422,
            "validation_error",
            "Search by an order number, an e-mail address, or at least 3 last digits of a phone.",
            fields={"q": "an order number, an e-mail address or the last digits of a phone"},
        )
    return _json({"orders": [dataclasses.asdict(line) for line in found]})


async def order_story(request: Request) -> Response:
    _staff(request)
    order_id = _order_id(request)
    story = await read_story(services(request).database, services(request).catalogue, order_id)
    if story is None:
        raise _no_order(order_id)
    return _json(story.body())


async def reviews(request: Request) -> Response:
    _staff(request)
    held = await review_queue(services(request).database, services(request).catalogue)
    return _json({"held": [dataclasses.asdict(item) for item in held]})


async def ask(request: Request) -> Response:
    actor = _staff(request)
    order_id = _order_id(request)
    await read_no_body(request)
    found = services(request)
    evidence = await ask_payhero(found.database, found.payhero, order_id, actor)
    if evidence is None:
        raise _no_order(order_id)
    return _json(evidence)


async def complete(request: Request) -> Response:
    actor = _staff(request)
    order_id = _order_id(request)
    body = await read_json_body(request, MAX_ACTION_BODY)
    receipt = _text(body, "receipt", required=True, limit=32).upper()
    if not RECEIPT.match(receipt):
        raise ApiError(
            422,
            "validation_error",
            "The receipt is the M-PESA receipt number: 6 to 32 capitals and digits.",
            fields={"receipt": "6 to 32 capitals and digits"},
        )
    note = _text(body, "note", required=False) or "completed at the desk after checking the M-PESA statement"
    found = services(request)
    done = await complete_order(found.database, found.changes, order_id, receipt, note, actor)
    if done.order_id is None:
        raise _no_order(order_id)
    if done.error is not None:
        raise ApiError(409, "not_completed", done.error, payment_status=done.payment_status, headers=NO_STORE)
    return _json({"order_id": done.order_id, "payment_status": done.payment_status})


async def close(request: Request) -> Response:
    actor = _staff(request)
    order_id = _order_id(request)
    body = await read_json_body(request, MAX_ACTION_BODY)
    note = _text(body, "note", required=True)
    found = services(request)
    closed = await close_review(found.database, found.changes, order_id, note, actor)
    if closed is None:
        raise _no_order(order_id)
    if closed.error is not None:
        raise ApiError(409, "not_held", closed.error, payment_status=closed.payment_status, headers=NO_STORE)
    return _json({"order_id": order_id, "payment_status": closed.payment_status})


async def resend(request: Request) -> Response:
    actor = _staff(request)
    order_id = _order_id(request)
    await read_no_body(request)
    found = services(request)
    sent = await resend_tickets(found.database, found.catalogue, order_id, actor)
    if sent is None:
        raise _no_order(order_id)
    if sent.error is not None:
        raise ApiError(409, "no_tickets", sent.error, headers=NO_STORE)
    found.outbox.notify()
    return _json({"order_id": order_id, "recipient": sent.recipient, "queued": True}, status_code=202)


def _csv(name: str, rows: Any) -> Response:
    return StreamingResponse(
        rows,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"', **NO_STORE},
    )


async def export_attendees(request: Request) -> Response:
    _staff(request)
    return _csv("attendees.csv", attendees_csv(services(request).database, services(request).catalogue))


async def export_payments(request: Request) -> Response:
    _staff(request)
    return _csv("payments.csv", payments_csv(services(request).database, services(request).catalogue))


routes = [
    Route(DESK_ME, me, methods=["GET"]),
    Route(DESK_SALES, sales, methods=["GET"]),
    Route(DESK_DOOR, door, methods=["GET"]),
    Route(DESK_LIVE, live, methods=["GET"]),
    Route(DESK_ORDERS, orders, methods=["GET"]),
    Route(DESK_ORDER, order_story, methods=["GET"]),
    Route(DESK_ORDER_ASK, ask, methods=["POST"]),
    Route(DESK_ORDER_COMPLETE, complete, methods=["POST"]),
    Route(DESK_ORDER_CLOSE, close, methods=["POST"]),
    Route(DESK_ORDER_RESEND, resend, methods=["POST"]),
    Route(DESK_REVIEWS, reviews, methods=["GET"]),
    Route(DESK_EXPORT_ATTENDEES, export_attendees, methods=["GET"]),
    Route(DESK_EXPORT_PAYMENTS, export_payments, methods=["GET"]),
]
