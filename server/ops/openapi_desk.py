"""`/openapi.json`'s desk part: the organiser's desk API (`/api/desk/…`, DESK_TOKEN) and its page.

The answers are the desk's own dataclasses as JSON (server/desk/); their shapes are given
here as far as a client of the desk relies on them.
"""

from __future__ import annotations

from server import urls
from server.json_types import JSONObject, JSONValue
from server.lifecycle import PROCESSING
from server.ops.openapi_parts import (
    BINARY,
    HEADERS_TOO_LARGE,
    JSON,
    NO_STORE,
    NOT_JSON,
    ORDER_ID,
    error,
    json_answer,
)

_OBJECT: JSONObject = {"type": "object"}
_COUNT: JSONObject = {"type": "integer", "minimum": 0}
_NAMED: JSONObject = {"slug": {"type": "string"}, "name": {"type": "string"}}


def _per_event(per_type: JSONObject, per_event: JSONObject) -> JSONObject:
    """`{"events": [{slug, name, …per_event, "ticket_types": [{slug, name, …per_type}]}]}`."""
    ticket_type: JSONObject = {
        "type": "object",
        "required": [*_NAMED, *per_type],
        "properties": {**_NAMED, **per_type},
    }
    event_properties: JSONObject = {
        **_NAMED,
        **per_event,
        "ticket_types": {"type": "array", "items": ticket_type},
    }
    event: JSONObject = {"type": "object", "required": list(event_properties), "properties": event_properties}
    events: JSONObject = {"type": "array", "items": event}
    return {"type": "object", "required": ["events"], "properties": {"events": events}}


_SALES: JSONObject = _per_event(
    {
        "capacity": _COUNT,
        "sold": _COUNT,
        PROCESSING: _COUNT,
        "seats_left": _COUNT,
        "revenue": _COUNT,
        "paid_last_hour": _COUNT,
    },
    {"currency": {"type": "string"}},
)
_GATES: JSONObject = {
    "type": "array",
    "description": "Check-ins per gate: named gates by name, then `gate: null` (no gate named).",
    "items": {
        "type": "object",
        "required": ["gate", "checked_in"],
        "properties": {"gate": {"type": ["string", "null"]}, "checked_in": _COUNT},
    },
}
_DOOR: JSONObject = _per_event({"issued": _COUNT, "checked_in": _COUNT, "gates": _GATES}, {"gates": _GATES})
_REFUSED: JSONObject = {
    "401": error("No desk token, or a wrong one (DESK_TOKEN)."),
    "431": HEADERS_TOO_LARGE,
    "503": error(
        "The database cannot be reached (`store_unavailable`, with Retry-After), or no DESK_TOKEN "
        "is configured (`desk_disabled`)."
    ),
}
_NOT_FOUND: JSONObject = {"404": error("No order has this id.")}


def _get(
    summary: str, ok: JSONObject, *, responses: JSONObject | None = None, **extra: JSONValue
) -> JSONObject:
    answers: JSONObject = {"200": ok, **_REFUSED, **(responses or {})}
    return {
        "get": {
            "summary": summary,
            "tags": ["desk"],
            "security": [{"deskToken": []}],
            "responses": answers,
            **extra,
        }
    }


def _post(summary: str, ok: JSONObject, fields: JSONObject | None, **responses: JSONValue) -> JSONObject:
    operation: JSONObject = {
        "summary": summary,
        "tags": ["desk"],
        "security": [{"deskToken": []}],
        "parameters": [ORDER_ID],
        "responses": {
            **ok,
            **_REFUSED,
            **_NOT_FOUND,
            "400": error("The body is not JSON."),
            "413": error("The body is larger than 2 KiB."),
            "415": NOT_JSON,
            "422": error("A field is missing or wrong (`fields` names it); nothing changed."),
            **responses,
        },
    }
    if fields is not None:
        # The first field is the one the route needs; the others are optional.
        required = list[JSONValue](fields)[:1]
        operation["requestBody"] = {
            "required": True,
            "content": {JSON: {"schema": {"type": "object", "properties": fields, "required": required}}},
        }
    return {"post": operation}


def _csv(summary: str) -> JSONObject:
    return _get(
        summary,
        {
            "description": "The CSV file, streamed.",
            "headers": NO_STORE,
            "content": {"text/csv": {"schema": BINARY}},
        },
    )


DESK_PATHS: JSONObject = {
    urls.DESK_PAGE: {
        "get": {
            "summary": "The organiser's desk page (it asks for the desk token itself).",
            "tags": ["pages"],
            "responses": {
                "200": {"description": "The page.", "content": {"text/html": {"schema": BINARY}}},
                "304": {"description": "Unchanged since the ETag sent in If-None-Match."},
                "431": HEADERS_TOO_LARGE,
            },
        }
    },
    urls.DESK_ME: _get(
        "Whose desk token this is.",
        json_answer({"type": "object", "properties": {"name": {"type": "string"}}}, "The token's name."),
    ),
    urls.DESK_SALES: _get(
        "Sales per event and ticket type, now.", json_answer(_SALES, "The figures.", headers=NO_STORE)
    ),
    urls.DESK_DOOR: _get(
        "Tickets issued and checked in per event and ticket type, and check-ins per gate.",
        json_answer(_DOOR, "The door's figures.", headers=NO_STORE),
    ),
    urls.DESK_LIVE: _get(
        "Server-sent events: `event: figures` with the sales and the door's figures, first at once, "
        "then whenever a payment or a check-in changes them (in any process); `: ping` comments "
        "in between. Send the desk token as a header (read it with fetch, not EventSource).",
        {
            "description": "The stream.",
            # OpenAPI before 3.2: `schema` describes each event of the stream.
            "content": {
                "text/event-stream": {
                    "schema": {
                        "type": "object",
                        "required": ["event", "data"],
                        "properties": {
                            "event": {"type": "string", "enum": ["figures"]},
                            "data": {"type": "string", "contentMediaType": "application/json"},
                        },
                    }
                }
            },
        },
    ),
    urls.DESK_ORDERS: _get(
        "Find orders by order number, the last 3+ digits of a phone, or an e-mail address (50 newest).",
        json_answer(_OBJECT, "The orders found (`orders`).", headers=NO_STORE),
        parameters=[
            {"name": "q", "in": "query", "required": True, "schema": {"type": "string", "maxLength": 254}}
        ],
        responses={"422": error("`q` can match nothing (empty, or fewer than 3 digits).")},
    ),
    urls.DESK_ORDER: _get(
        "An order's whole story: status changes, STK pushes, callbacks as received with their "
        "outcomes, e-mails, tickets and their check-ins, desk actions (who, when).",
        json_answer(_OBJECT, "The story.", headers=NO_STORE),
        parameters=[ORDER_ID],
        responses=_NOT_FOUND,
    ),
    urls.DESK_REVIEWS: _get(
        "Payments held for review and not yet settled at the desk, oldest first, with the reason in "
        "words, the callbacks as received and PayHero's last transaction-status answer.",
        json_answer(_OBJECT, "The queue (`held`).", headers=NO_STORE),
    ),
    urls.DESK_ORDER_ASK: _post(
        "Ask PayHero for the transaction status of each of the order's pushes now; recorded.",
        {"200": json_answer(_OBJECT, "PayHero's answers by reference (`answers`).")},
        None,
    ),
    urls.DESK_ORDER_COMPLETE: _post(
        "Complete: the M-PESA statement shows the money. Tickets and e-mails go out once; recorded "
        "with the token's name (the same function as `python -m server complete-order`).",
        {"200": json_answer(_OBJECT, "Completed now (`payment_status`).")},
        {
            "receipt": {"type": "string", "pattern": "^[A-Za-z0-9]{6,32}$"},
            "note": {"type": "string", "maxLength": 255},
        },
        **{"409": error("Already completed (`not_completed`); nothing changed.")},
    ),
    urls.DESK_ORDER_CLOSE: _post(
        "Close: refunded outside the service (a note is required). An unpaid order is cancelled, its "
        "seats given back; a paid one stays paid. Recorded with the token's name.",
        {"200": json_answer(_OBJECT, "Closed (`payment_status`).")},
        {"note": {"type": "string", "minLength": 1, "maxLength": 255}},
        **{"409": error("The order is not held for review (`not_held`).")},
    ),
    urls.DESK_ORDER_RESEND: _post(
        "Send the tickets again to the order's e-mail (a new outbox row of its own).",
        {"202": json_answer(_OBJECT, "Queued.")},
        None,
        **{"409": error("The order is not paid, or has no tickets or e-mail (`no_tickets`).")},
    ),
    urls.DESK_EXPORT_ATTENDEES: _csv(
        "Attendees: order number, holder, event, ticket type, ticket code, checked in at (event's time)."
    ),
    urls.DESK_EXPORT_PAYMENTS: _csv(
        "Payments: order number, amount, currency, receipt, paid at (in the event's timezone), status."
    ),
}
