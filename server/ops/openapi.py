"""The OpenAPI 3 description served at `/openapi.json`: hand-written, checked by tests.

Hand-written rather than generated from docstrings: the status routes' contract (versions
as cursors, a stream that ends by itself, 204 for a finished stream) is worded once here,
and schemathesis fuzzes the service against exactly this. tests/test_openapi.py fails when
a route is added without being described.
"""

from __future__ import annotations

from typing import Any

from server.ops.openapi_payments import FLAT_CALLBACK, PAYMENT_PATHS
from server.status.document import DOCUMENT_FIELDS, STATUSES

JSON = "application/json"
REF = "#/components/schemas/"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF + name}


def _json(schema: dict[str, Any], description: str, **extra: Any) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}, **extra}


def _error(description: str, **extra: Any) -> dict[str, Any]:
    return _json(_ref("Error"), description, **extra)


_NULLABLE_TEXT = {"type": "string", "nullable": True}
_HEADERS_TOO_LARGE = _error("The request headers are larger than 16 KiB.")
_UNAVAILABLE = _error(
    "The database cannot be reached just now; try again after Retry-After.",
    headers={"Retry-After": {"schema": {"type": "integer"}}},
)
_TOO_MANY_WAITERS = _error(
    "This address holds MAX_WAITERS_PER_CLIENT waiters already (`too_many_waiters`).",
    headers={"Retry-After": {"schema": {"type": "integer", "minimum": 1}}},
)
_NOT_JSON = _error("The body is not sent as `Content-Type: application/json`; nothing changed.")
_NO_STORE = {"Cache-Control": {"schema": {"type": "string", "enum": ["no-store"]}}}

_NAMED = {
    "type": "object",
    "required": ["slug", "name"],
    "properties": {"slug": {"type": "string"}, "name": {"type": "string"}},
}
_PAGE_HEADERS = {"ETag": {"schema": {"type": "string"}}, "Cache-Control": {"schema": {"type": "string"}}}
# Asset types the web folder serves (server/webfiles.py).
_ASSET_TYPES = ["text/css", "text/javascript", "image/svg+xml", "image/png", "image/x-icon", "font/woff2"]

# The status document's `event` (server/catalogue.py, `Event.summary`).
_EVENT_FACTS = ("slug", "name", "starts_at", "timezone", "venue")

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error", "message"],
        "properties": {
            "error": {"type": "string", "description": "A stable code, e.g. `order_not_found`."},
            "message": {"type": "string", "description": "Human text."},
            "fields": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    },
    "Ticket": {
        "type": "object",
        "required": ["ticket_id", "ticket_type", "ticket_type_name", "code", "qr_url"],
        "properties": {
            "ticket_id": {"type": "string"},
            "ticket_type": {"type": "string"},
            "ticket_type_name": {"type": "string", "description": "The catalogue's name, e.g. Early Bird."},
            "code": {"type": "string"},
            "qr_url": {"type": "string"},
        },
    },
    "StatusDocument": {
        "type": "object",
        "description": "The one status shape. Carries no personal data.",
        "required": [*DOCUMENT_FIELDS, "event"],
        "properties": {
            "order_id": {"type": "string", "description": "Opaque, at least 128 random bits, URL-safe."},
            "order_number": {"type": "string"},
            "payment_status": {"type": "string", "enum": sorted(STATUSES)},
            "amount": {"type": "integer"},
            "currency": {"type": "string"},
            "version": {"type": "integer", "minimum": 1, "description": "SSE event id and long-poll cursor."},
            "updated_at": {"type": "string"},
            "result_code": {"type": "integer", "nullable": True},
            "result_desc": _NULLABLE_TEXT,
            "receipt_number": _NULLABLE_TEXT,
            "tickets": {"type": "array", "items": _ref("Ticket")},
            "event": {
                "type": "object",
                "nullable": True,
                "description": "The order's event (ISO 8601 `starts_at`, IANA `timezone`); null when the "
                "catalogue no longer lists it.",
                "required": list(_EVENT_FACTS),
                "properties": {name: {"type": "string"} for name in _EVENT_FACTS},
            },
            "prompt_expires_at": {
                "type": "string",
                "nullable": True,
                "description": "When the latest STK prompt's window ends; null before a push and once final.",
            },
            "pushes": {"type": "integer", "minimum": 0, "description": "STK pushes this order has had."},
        },
    },
    "OrderCreated": {
        "allOf": [
            _ref("StatusDocument"),
            {
                "type": "object",
                "required": ["status_url", "events_url", "wait_url"],
                "properties": {
                    "status_url": {"type": "string"},
                    "events_url": {"type": "string"},
                    "wait_url": {"type": "string"},
                },
            },
        ]
    },
    "PushFailed": {"allOf": [_ref("StatusDocument"), _ref("Error")]},
    "WaitResult": {
        "allOf": [
            _ref("StatusDocument"),
            {"type": "object", "required": ["timed_out"], "properties": {"timed_out": {"type": "boolean"}}},
        ]
    },
    "StatusEvent": {
        "type": "object",
        "description": "One `event: status` of the stream (after a `retry:` hint; comments keep it open).",
        "required": ["event", "id", "data"],
        "properties": {
            "event": {"type": "string", "enum": ["status"]},
            "id": {"type": "string", "pattern": "^[0-9]+$"},
            "data": {
                "type": "string",
                "contentMediaType": JSON,
                "contentSchema": _ref("StatusDocument"),
            },
        },
    },
    "CheckoutRequest": {
        "type": "object",
        "required": ["event", "ticket_type", "email", "first_name", "last_name", "phone"],
        "properties": {
            "event": {"type": "string", "example": "demo-fest"},
            "ticket_type": {"type": "string", "example": "early-bird"},
            "quantity": {"type": "integer", "minimum": 1, "maximum": 10, "default": 1},
            "email": {"type": "string", "format": "email", "maxLength": 254},
            "first_name": {"type": "string", "maxLength": 100},
            "last_name": {"type": "string", "maxLength": 100},
            "phone": {
                "type": "string",
                "description": "07XXXXXXXX, 01XXXXXXXX, 2547XXXXXXXX or +2547XXXXXXXX (and 1 likewise).",
                "example": "0712345678",
            },
        },
    },
    "Event": {
        "type": "object",
        "required": ["slug", "name", "starts_at", "ticket_types"],
        "properties": {
            "slug": {"type": "string"},
            "name": {"type": "string"},
            "starts_at": {"type": "string"},
            "timezone": {"type": "string"},
            "venue": {"type": "string", "nullable": True},
            "ticket_types": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["slug", "name", "price", "currency", "available"],
                    "properties": {
                        "slug": {"type": "string"},
                        "name": {"type": "string"},
                        "price": {"type": "integer"},
                        "currency": {"type": "string"},
                        "available": {"type": "integer", "minimum": 0},
                    },
                },
            },
        },
    },
    "PayHeroCallback": {"oneOf": [_ref("PayHeroCallbackV2"), _ref("PayHeroCallbackFlat")]},
    "PayHeroCallbackFlat": FLAT_CALLBACK,
    "PayHeroCallbackV2": {
        "type": "object",
        "description": "PayHero's v2 callback (docs/PAYHERO.md). Anything else is a 400.",
        "required": ["response"],
        "properties": {
            "status": {"description": "A boolean, or a success/failure word."},
            "forward_url": {"type": "string"},
            "response": {
                "type": "object",
                "required": ["ResultCode", "ExternalReference", "CheckoutRequestID"],
                "properties": {
                    "ResultCode": {
                        "description": "0 paid; M-PESA's codes otherwise. Number or numeric string."
                    },
                    "ResultDesc": {"type": "string"},
                    "ExternalReference": {"type": "string"},
                    "CheckoutRequestID": {"type": "string"},
                    "MpesaReceiptNumber": {"type": "string"},
                    "Amount": {"description": "Number or numeric string."},
                    "Phone": {"type": "string"},
                    "Status": {"type": "string"},
                },
            },
        },
    },
    "CallbackAck": {
        "type": "object",
        "required": ["ok"],
        "properties": {
            "ok": {"type": "boolean", "enum": [True]},
            "order_id": {"type": "string", "nullable": True},
            "payment_status": {"type": "string", "nullable": True},
            "ignored": {"type": "string", "description": "Why a failure changed nothing (no money in it)."},
            "review": {
                "type": "string",
                "description": "Why a success was not applied: held for a person (docs/OPERATIONS.md).",
            },
        },
    },
    "TicketCheck": {
        "type": "object",
        "description": "What the gate learns of a genuine code: the event and type, never the buyer.",
        "required": ["genuine", "ticket_id", "event", "ticket_type", "checked_in", "checked_in_at"],
        "properties": {
            "genuine": {"type": "boolean", "enum": [True]},
            "ticket_id": {"type": "string"},
            "event": _NAMED,
            "ticket_type": _NAMED,
            "checked_in": {"type": "boolean"},
            "checked_in_at": _NULLABLE_TEXT,
        },
    },
    "Ready": {
        "type": "object",
        "required": ["status", "database", "store", "broker", "broker_kind"],
        "properties": {
            "status": {"type": "string", "enum": ["ok", "degraded"]},
            "database": {"type": "string", "enum": ["ok", "unavailable"]},
            "store": {"type": "string", "enum": ["sqlite", "postgresql"]},
            "broker": {"type": "string", "enum": ["ok", "degraded"]},
            "broker_kind": {"type": "string", "enum": ["memory", "redis", "redis-cluster"]},
            "untrusted_forwarded": {
                "type": "integer",
                "description": "Requests whose X-Forwarded-For came from a peer FORWARDED_ALLOW_IPS "
                "does not trust (ignored).",
            },
        },
    },
}

_ORDER_ID = {
    "name": "order_id",
    "in": "path",
    "required": True,
    "description": "The order id from the checkout's answer. Anything not shaped like one is a 404.",
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
}
_VERSION = {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}


def _order_operation(summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "tags": ["status"],
        "parameters": [_ORDER_ID, *extra.pop("parameters", [])],
        "responses": {
            **responses,
            "404": _error("No order has this id."),
            "431": _HEADERS_TOO_LARGE,
            "503": _UNAVAILABLE,
        },
    }
    operation.update(extra)
    return operation


_CODE_BODY = {
    "type": "object",
    "required": ["code"],
    "properties": {"code": {"type": "string", "minLength": 1}},
}


def _page(summary: str, media_types: list[str], **extra: Any) -> dict[str, Any]:
    content = {media_type: {"schema": {"type": "string", "format": "binary"}} for media_type in media_types}
    responses = {
        "200": {"description": "The file.", "headers": _PAGE_HEADERS, "content": content},
        "304": {"description": "Unchanged since the ETag sent in If-None-Match."},
        "431": _HEADERS_TOO_LARGE,
        **extra.pop("responses", {}),
    }
    return {"get": {"summary": summary, "tags": ["pages"], "responses": responses, **extra}}


_IMAGE_HEADERS = {"ETag": {"schema": {"type": "string"}}, "Cache-Control": {"schema": {"type": "string"}}}


def _qr(media_type: str) -> dict[str, Any]:
    return {
        "get": {
            "summary": f"The ticket's QR code as {media_type}; only once the order is paid.",
            "tags": ["tickets"],
            "parameters": [
                {
                    "name": "ticket_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
                }
            ],
            "responses": {
                "200": {
                    "description": "The image; it never changes (immutable caching, an ETag).",
                    "headers": _IMAGE_HEADERS,
                    "content": {media_type: {"schema": {"type": "string", "format": "binary"}}},
                },
                "304": {"description": "If-None-Match named the image's ETag.", "headers": _IMAGE_HEADERS},
                "404": _error("No paid ticket has this id."),
                "431": _HEADERS_TOO_LARGE,
                "503": _UNAVAILABLE,
            },
        }
    }


PATHS: dict[str, Any] = {
    "/": _page("The checkout page.", ["text/html"]),
    "/payment/{order_id}": _page(
        "The payment status page; the same bytes for every order.",
        ["text/html"],
        parameters=[{**_ORDER_ID, "schema": {"type": "string"}}],
        responses={
            "308": {
                "description": "The id with a sentence's trailing punctuation: to the page without it.",
                "headers": {"Location": {"schema": {"type": "string"}}},
            },
            "404": {
                "description": "Not shaped like an order id: the same page, which shows its not-found state.",
                "content": {"text/html": {"schema": {"type": "string"}}},
            },
        },
    ),
    "/gate": _page("The gate staff's page: verify and check in tickets.", ["text/html"]),
    "/static/{version}/{path}": _page(
        "The pages' assets, under a version that changes with their content.",
        _ASSET_TYPES,
        parameters=[
            {"name": "version", "in": "path", "required": True, "schema": {"type": "string"}},
            {"name": "path", "in": "path", "required": True, "schema": {"type": "string"}},
        ],
        responses={"404": _error("No such file (or not this version).")},
    ),
    "/api/tickets/verify": {
        "get": {
            "summary": "The gate asks whether a ticket code is genuine.",
            "tags": ["tickets"],
            "parameters": [{"name": "code", "in": "query", "required": True, "schema": {"type": "string"}}],
            "responses": {
                "200": _json(_ref("TicketCheck"), "Genuine.", headers=_NO_STORE),
                "400": _error("No code given."),
                "404": _error("Not a valid ticket (one answer for every way a code can be wrong)."),
                "431": _HEADERS_TOO_LARGE,
                "503": _UNAVAILABLE,
            },
        }
    },
    "/api/tickets/check-in": {
        "post": {
            "summary": "The gate checks a ticket in, once (gate staff only).",
            "tags": ["tickets"],
            "security": [{"gateToken": []}],
            "requestBody": {"required": True, "content": {JSON: {"schema": _CODE_BODY}}},
            "responses": {
                "200": _json(_ref("TicketCheck"), "Checked in now.", headers=_NO_STORE),
                "400": _error("Not a JSON object with a code."),
                "401": _error("No gate staff token, or a wrong one (GATE_TOKEN)."),
                "404": _error("Not a valid ticket."),
                "409": _error("Already checked in (`ticket` says when)."),
                "413": _error("The body is larger than 1 KiB."),
                "415": _NOT_JSON,
                "431": _HEADERS_TOO_LARGE,
                "503": _error(
                    "The database cannot be reached (`store_unavailable`, with Retry-After), or no "
                    "GATE_TOKEN is configured (`check_in_disabled`)."
                ),
            },
        }
    },
    "/api/tickets/{ticket_id}/qr.png": _qr("image/png"),
    "/api/tickets/{ticket_id}/qr.svg": _qr("image/svg+xml"),
    "/healthz": {
        "get": {
            "summary": "The process is alive.",
            "tags": ["ops"],
            "responses": {
                "200": _json(
                    {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}},
                    "Alive.",
                ),
                "431": _HEADERS_TOO_LARGE,
            },
        }
    },
    "/readyz": {
        "get": {
            "summary": "The database and the broker are reachable.",
            "description": "A broker outage is `degraded` with 200: the store's safety net still answers.",
            "tags": ["ops"],
            "responses": {
                "200": _json(_ref("Ready"), "Ready (possibly degraded)."),
                "431": _HEADERS_TOO_LARGE,
                "503": _json(_ref("Ready"), "The database is unreachable."),
            },
        }
    },
    "/metrics": {
        "get": {
            "summary": "Prometheus metrics, text format 0.0.4.",
            "tags": ["ops"],
            "security": [{}, {"metricsToken": []}],
            "responses": {
                "200": {"description": "Metrics.", "content": {"text/plain": {"schema": {"type": "string"}}}},
                "401": _error("METRICS_TOKEN is set and the bearer token is missing or wrong."),
                "431": _HEADERS_TOO_LARGE,
            },
        }
    },
    "/openapi.json": {
        "get": {
            "summary": "This description.",
            "tags": ["ops"],
            "responses": {"200": _json({"type": "object"}, "OpenAPI 3."), "431": _HEADERS_TOO_LARGE},
        }
    },
    "/api/events": {
        "get": {
            "summary": "Events on sale, with ticket types and seats left.",
            "tags": ["checkout"],
            "responses": {
                "200": _json({"type": "array", "items": _ref("Event")}, "The catalogue."),
                "431": _HEADERS_TOO_LARGE,
                "503": _UNAVAILABLE,
            },
        }
    },
    "/api/orders": {
        "post": {
            "summary": "Create an order and start the M-PESA STK push.",
            "tags": ["checkout"],
            "requestBody": {"required": True, "content": {JSON: {"schema": _ref("CheckoutRequest")}}},
            "responses": {
                "201": _json(
                    _ref("OrderCreated"),
                    "Stored; the push is on the customer's phone.",
                    headers={"Location": {"schema": {"type": "string"}}},
                ),
                "400": _error("Not UTF-8 JSON."),
                "413": _error("The body is larger than 8 KiB."),
                "415": _NOT_JSON,
                "422": _error("Some fields need fixing (`fields` says which); nothing stored."),
                "429": _error(
                    "Too many pushes to this phone number or from this address (`limit` says which); "
                    "nothing stored.",
                    headers={"Retry-After": {"schema": {"type": "integer", "minimum": 1}}},
                ),
                "431": _HEADERS_TOO_LARGE,
                "502": _json(
                    _ref("PushFailed"), "PayHero refused or could not be reached; stored as failed."
                ),
                "503": _UNAVAILABLE,
            },
        }
    },
    "/api/orders/{order_id}": {
        "get": _order_operation(
            "The order's status document.",
            {"200": _json(_ref("StatusDocument"), "The current status.", headers=_NO_STORE)},
        )
    },
    "/api/orders/{order_id}/calendar.ics": {
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
    "/api/orders/{order_id}/wait": {
        "get": _order_operation(
            "Long poll: the status once it is newer than `since`, or at `timeout`.",
            {
                "200": _json(
                    _ref("WaitResult"), "Newer than `since`, terminal, or timed out.", headers=_NO_STORE
                ),
                "400": _error("`since` or `timeout` is not a number the service takes."),
                "429": _TOO_MANY_WAITERS,
            },
            parameters=[
                {
                    "name": "since",
                    "in": "query",
                    "description": "The version the client has. Absent or empty: answer at once if terminal.",
                    "allowEmptyValue": True,
                    "schema": _VERSION,
                },
                {
                    "name": "timeout",
                    "in": "query",
                    "description": "Seconds to hold; default WAIT_TIMEOUT, cap WAIT_TIMEOUT_MAX.",
                    "allowEmptyValue": True,
                    "schema": {"type": "number", "minimum": 0},
                },
            ],
        )
    },
    "/api/orders/{order_id}/events": {
        "get": _order_operation(
            "Server-Sent Events: `retry:`, then `event: status` per change; ends after a terminal status.",
            {
                "200": {
                    "description": "The stream. Each event's id is the document's version.",
                    # Open API before 3.2: `schema` describes each event of the stream.
                    "content": {"text/event-stream": {"schema": _ref("StatusEvent")}},
                },
                "204": {"description": "The client already has the terminal status (Last-Event-ID)."},
                "400": _error("Last-Event-ID is not a version."),
                "429": _TOO_MANY_WAITERS,
            },
            parameters=[
                {
                    "name": "Last-Event-ID",
                    "in": "header",
                    "description": "The last version the client received; only newer ones are sent. "
                    "Empty is the same as absent.",
                    "schema": {"type": "string", "pattern": "^[0-9]{0,10}$"},
                },
                {
                    "name": "last_event_id",
                    "in": "query",
                    "description": "The same, for clients that cannot set the header.",
                    "allowEmptyValue": True,
                    "schema": _VERSION,
                },
            ],
        )
    },
    "/api/payhero/callback/{token}": {
        "post": {
            "summary": "PayHero's callback. `{token}` is the service's secret: a wrong one is a 404.",
            "tags": ["payhero"],
            "parameters": [{"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}],
            "requestBody": {"required": True, "content": {JSON: {"schema": _ref("PayHeroCallback")}}},
            "responses": {
                "200": _json(
                    _ref("CallbackAck"), "Stored and applied, a duplicate, held for `review`, or `ignored`."
                ),
                "400": _error("Not a PayHero callback (it is still stored for audit)."),
                "404": _error("Not Found (a wrong token, like any unknown path)."),
                "413": _error("The body is past CALLBACK_MAX_BYTES."),
                "431": _HEADERS_TOO_LARGE,
                "503": _UNAVAILABLE,
            },
        }
    },
}


PATHS.update(PAYMENT_PATHS)


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "payment-status",
            "version": "0.1.0",
            "description": "M-PESA (PayHero) payment status: checkout, status document, long poll and SSE. "
            "Every error is JSON `{error, message, ...}`.",
        },
        "servers": [{"url": "/"}],
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "metricsToken": {"type": "http", "scheme": "bearer"},
                "gateToken": {"type": "http", "scheme": "bearer"},
            },
        },
    }
