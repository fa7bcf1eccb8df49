"""The order routes of `/openapi.json`: checkout, the status document, /wait, the stream, and
a waiting customer's two actions (push again, cancel). Bodies are the models' components."""

from __future__ import annotations

from server import urls
from server.json_types import JSONObject, JSONValue
from server.ops.openapi_parts import (
    HEADERS_TOO_LARGE,
    JSON,
    NO_STORE,
    NOT_JSON,
    ORDER_ID,
    RETRY_AFTER,
    TOO_MANY_WAITERS,
    UNAVAILABLE,
    body,
    error,
    json_answer,
    ref,
)

_VERSION: JSONObject = {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}


def _order_operation(
    summary: str, responses: JSONObject, *, parameters: list[JSONValue] | None = None, **extra: JSONValue
) -> JSONObject:
    operation: JSONObject = {
        "summary": summary,
        "tags": ["status"],
        "parameters": [ORDER_ID, *(parameters or [])],
        "responses": {
            **responses,
            "404": error("No order has this id."),
            "431": HEADERS_TOO_LARGE,
            "503": UNAVAILABLE,
        },
    }
    operation.update(extra)
    return operation


# No body, or `{}`: the route needs only the order id.
_EMPTY_BODY: JSONObject = {
    "required": False,
    "content": {JSON: {"schema": {"type": "object", "maxProperties": 0, "additionalProperties": False}}},
}
_ACTION_REFUSALS: JSONObject = {
    "400": error("A body that is not UTF-8 JSON."),
    "409": error("`order_final`: the order is completed, failed, cancelled or expired."),
    "413": error("A body past 1 KiB."),
    "415": error("A body that is not application/json."),
    "422": error("A JSON body with fields: these routes take none."),
}


def _action(summary: str, responses: JSONObject) -> JSONObject:
    operation = _order_operation(summary, {**_ACTION_REFUSALS, **responses})
    return {"post": {**operation, "requestBody": _EMPTY_BODY}}


_SINCE: JSONObject = {
    "name": "since",
    "in": "query",
    "description": "The version the client has. Absent or empty: answer at once if terminal.",
    "allowEmptyValue": True,
    "schema": _VERSION,
}
_TIMEOUT: JSONObject = {
    "name": "timeout",
    "in": "query",
    "description": "Seconds to hold; default WAIT_TIMEOUT, cap WAIT_TIMEOUT_MAX.",
    "allowEmptyValue": True,
    "schema": {"type": "number", "minimum": 0},
}
_LAST_EVENT_ID: JSONObject = {
    "name": "Last-Event-ID",
    "in": "header",
    "description": "The last version the client received; only newer ones are sent. "
    "Empty is the same as absent.",
    "schema": {"type": "string", "pattern": "^[0-9]{0,10}$"},
}
_LAST_EVENT_ID_QUERY: JSONObject = {
    "name": "last_event_id",
    "in": "query",
    "description": "The same, for clients that cannot set the header.",
    "allowEmptyValue": True,
    "schema": _VERSION,
}

ORDER_PATHS: JSONObject = {
    urls.EVENTS: {
        "get": {
            "summary": "Events on sale, with ticket types and seats left.",
            "tags": ["checkout"],
            "responses": {
                "200": json_answer({"type": "array", "items": ref("EventListing")}, "The catalogue."),
                "431": HEADERS_TOO_LARGE,
                "503": UNAVAILABLE,
            },
        }
    },
    urls.ORDERS: {
        "post": {
            "summary": "Create an order and start the M-PESA STK push.",
            "tags": ["checkout"],
            "requestBody": body("CheckoutBody"),
            "responses": {
                "201": json_answer(
                    "OrderCreated",
                    "Stored; the push is on the customer's phone.",
                    headers={"Location": {"schema": {"type": "string"}}},
                ),
                "202": json_answer(
                    "OrderCreated",
                    "Stored; PayHero's answer was lost (`push_outcome: unknown`): the prompt may still come.",
                    headers={"Location": {"schema": {"type": "string"}}},
                ),
                "400": error("Not UTF-8 JSON."),
                "413": error("The body is larger than 8 KiB."),
                "415": NOT_JSON,
                "409": error(
                    "`sales_closed`: the event's sales have ended; `already_bought`: this e-mail and "
                    "phone already paid for this event (send `confirm_repeat: true` to buy more). "
                    "Nothing stored, no push."
                ),
                "422": error("Some fields need fixing (`fields` says which); nothing stored."),
                "429": error(
                    "Too many pushes to this phone number or from this address (`limit` says which); "
                    "nothing stored.",
                    headers=RETRY_AFTER,
                ),
                "431": HEADERS_TOO_LARGE,
                "502": json_answer(
                    "PushFailed", "PayHero refused or could not be reached; stored as failed."
                ),
                "503": UNAVAILABLE,
            },
        }
    },
    urls.ORDER: {
        "get": _order_operation(
            "The order's status document.",
            {"200": json_answer("StatusDocument", "The current status.", headers=NO_STORE)},
        )
    },
    urls.ORDER_CALENDAR: {
        "get": _order_operation(
            "The order's event as an iCalendar file (no personal data).",
            {
                "200": {
                    "description": "A VCALENDAR with one VEVENT, times in UTC.",
                    "content": {"text/calendar": {"schema": {"type": "string"}}},
                }
            },
        )
    },
    urls.ORDER_WAIT: {
        "get": _order_operation(
            "Long poll: the status once it is newer than `since`, or at `timeout`.",
            {
                "200": json_answer(
                    "WaitResult", "Newer than `since`, terminal, or timed out.", headers=NO_STORE
                ),
                "400": error("`since` or `timeout` is not a number the service takes."),
                "429": TOO_MANY_WAITERS,
            },
            parameters=[_SINCE, _TIMEOUT],
        )
    },
    urls.ORDER_EVENTS: {
        "get": _order_operation(
            "Server-Sent Events: `retry:`, then `event: status` per change; ends after a terminal status.",
            {
                "200": {
                    "description": "The stream. Each event's id is the document's version.",
                    # OpenAPI before 3.2: `schema` describes each event of the stream.
                    "content": {"text/event-stream": {"schema": ref("StatusEvent")}},
                },
                "204": {"description": "The client already has the terminal status (Last-Event-ID)."},
                "400": error("Last-Event-ID is not a version."),
                "429": TOO_MANY_WAITERS,
            },
            parameters=[_LAST_EVENT_ID, _LAST_EVENT_ID_QUERY],
        )
    },
    urls.ORDER_PUSH: _action(
        "Send the STK push again to the order's own phone once the prompt's window is over.",
        {
            "202": json_answer(
                "StatusDocument",
                "Sent: `processing`, `pushes` + 1, a new `prompt_expires_at`. "
                "`push_outcome: unknown` when PayHero's answer was lost (the prompt may still come).",
            ),
            "409": error(
                "`order_final`, or `prompt_open` (with `retry_after` and Retry-After) while the "
                "last prompt may still be on the phone.",
            ),
            "429": error("`push_limited`: past a push limit (`limit`: phone or ip).", headers=RETRY_AFTER),
            "502": json_answer("PushFailed", "PayHero refused the push; the order is now failed."),
        },
    ),
    urls.ORDER_CANCEL: _action(
        "Cancel an unpaid order. A payment that lands later still completes it.",
        {"200": json_answer("StatusDocument", "Cancelled.")},
    ),
}
