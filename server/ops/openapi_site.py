"""The rest of `/openapi.json`: the pages and their assets, the gate's ticket routes, the
health and ops routes, and PayHero's callback."""

from __future__ import annotations

from server import urls
from server.json_types import JSONObject, JSONValue
from server.ops.openapi_parts import (
    BINARY,
    CACHE_HEADERS,
    HEADERS_TOO_LARGE,
    NO_STORE,
    NOT_JSON,
    ORDER_ID,
    UNAVAILABLE,
    body,
    error,
    json_answer,
    ref,
)

# Asset types the web folder serves (server/webfiles.py).
_ASSET_TYPES = ["text/css", "text/javascript", "image/svg+xml", "image/png", "image/x-icon", "font/woff2"]


def _page(
    summary: str, media_types: list[str], *, responses: JSONObject | None = None, **extra: JSONValue
) -> JSONObject:
    content: JSONObject = {media_type: {"schema": BINARY} for media_type in media_types}
    answers: JSONObject = {
        "200": {"description": "The file.", "headers": CACHE_HEADERS, "content": content},
        "304": {"description": "Unchanged since the ETag sent in If-None-Match."},
        "431": HEADERS_TOO_LARGE,
        **(responses or {}),
    }
    return {"get": {"summary": summary, "tags": ["pages"], "responses": answers, **extra}}


def _qr(media_type: str) -> JSONObject:
    ticket_id: JSONObject = {
        "name": "ticket_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
    }
    return {
        "get": {
            "summary": f"The ticket's QR code as {media_type}; only once the order is paid.",
            "tags": ["tickets"],
            "parameters": [ticket_id],
            "responses": {
                "200": {
                    "description": "The image; it never changes (immutable caching, an ETag).",
                    "headers": CACHE_HEADERS,
                    "content": {media_type: {"schema": BINARY}},
                },
                "304": {"description": "If-None-Match named the image's ETag.", "headers": CACHE_HEADERS},
                "404": error("No paid ticket has this id."),
                "431": HEADERS_TOO_LARGE,
                "503": UNAVAILABLE,
            },
        }
    }


_SHARE_ID: JSONObject = {
    "name": "share_id",
    "in": "path",
    "required": True,
    "description": "`<ticket id>.<mark>`: the ticket's own link (server/tickets/share_links.py).",
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}\\.[A-Za-z0-9_-]{16}$"},
}
_PRIVATE: JSONObject = {
    "Cache-Control": {
        "schema": {"type": "string"},
        "description": "`private, no-store`: it names the holder.",
    }
}


def _ops(summary: str, responses: JSONObject, **extra: JSONValue) -> JSONObject:
    return {
        "get": {
            "summary": summary,
            "tags": ["ops"],
            "responses": {**responses, "431": HEADERS_TOO_LARGE},
            **extra,
        }
    }


PAGE_PATHS: JSONObject = {
    urls.HOME_PAGE: _page("The checkout page.", ["text/html"]),
    urls.PAYMENT_PAGE: _page(
        "The payment status page; the same bytes for every order.",
        ["text/html"],
        parameters=[{**ORDER_ID, "schema": {"type": "string"}}],
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
    urls.GATE_PAGE: _page("The gate staff's page: verify and check in tickets.", ["text/html"]),
    urls.TICKET_PAGE: _page(
        "One ticket by its own secret link: the ticket only, never its order; the same bytes for all.",
        ["text/html"],
        parameters=[{**_SHARE_ID, "schema": {"type": "string"}}],
        responses={
            "404": {
                "description": "Not shaped like a ticket's link: the same page, showing its not-found state.",
                "content": {"text/html": {"schema": {"type": "string"}}},
            },
        },
    ),
    urls.GATE_SERVICE_WORKER: _page(
        "The gate page's service worker (scope /gate): the page and its scripts offline.",
        ["text/javascript"],
    ),
    "/static/{version}/{path}": _page(
        "The pages' assets, under a version that changes with their content.",
        _ASSET_TYPES,
        parameters=[
            {"name": "version", "in": "path", "required": True, "schema": {"type": "string"}},
            {"name": "path", "in": "path", "required": True, "schema": {"type": "string"}},
        ],
        responses={"404": error("No such file (or not this version).")},
    ),
}

_EVENT_SLUG: JSONObject = {"name": "event_slug", "in": "path", "required": True, "schema": {"type": "string"}}

TICKET_PATHS: JSONObject = {
    urls.TICKET_VERIFY: {
        "get": {
            "summary": "The gate asks whether a ticket code is genuine.",
            "tags": ["tickets"],
            "parameters": [{"name": "code", "in": "query", "required": True, "schema": {"type": "string"}}],
            "responses": {
                "200": json_answer("TicketCheck", "Genuine.", headers=NO_STORE),
                "400": error("No code given."),
                "404": error("Not a valid ticket (one answer for every way a code can be wrong)."),
                "429": error("Too many tries from this address (Retry-After)."),
                "431": HEADERS_TOO_LARGE,
                "503": UNAVAILABLE,
            },
        }
    },
    urls.TICKET_CHECK_IN: {
        "post": {
            "summary": "The gate checks a ticket in, once (gate staff only).",
            "tags": ["tickets"],
            "security": [{"gateToken": []}],
            "requestBody": body("CodeBody"),
            "responses": {
                "200": json_answer("TicketCheck", "Checked in now.", headers=NO_STORE),
                "400": error("Not a JSON object with a code."),
                "401": error("No gate staff token, or a wrong one (GATE_TOKEN)."),
                "404": error("Not a valid ticket."),
                "409": error(
                    "Already checked in (`already_checked_in`; `ticket` says when and at which gate), "
                    "or the event is over (`event_over`)."
                ),
                "429": error("Too many tries from this address or with this token (Retry-After)."),
                "413": error("The body is larger than 1 KiB."),
                "415": NOT_JSON,
                "431": HEADERS_TOO_LARGE,
                "503": error(
                    "The database cannot be reached (`store_unavailable`, with Retry-After), or no "
                    "GATE_TOKEN is configured (`check_in_disabled`)."
                ),
            },
        }
    },
    urls.GATE_SESSION: {
        "get": {
            "summary": "The gate page checks its token on entry and learns the events' clocks.",
            "tags": ["tickets"],
            "security": [{"gateToken": []}],
            "responses": {
                "200": json_answer("GateSession", "The token is good.", headers=NO_STORE),
                "401": error("No gate staff token, or a wrong one (GATE_TOKEN)."),
                "431": HEADERS_TOO_LARGE,
                "503": error("No GATE_TOKEN is configured (`check_in_disabled`)."),
            },
        }
    },
    urls.TICKETS_LOST: {
        "post": {
            "summary": "Lost your tickets? An e-mail with a link to each paid order's ticket page.",
            "description": "The same 202 whether or not the address or number bought anything. The e-mail "
            "goes to the address the orders were bought with, at most once per 15 minutes.",
            "tags": ["tickets"],
            "requestBody": body("LostTicketsBody"),
            "responses": {
                "202": json_answer("LostTicketsAccepted", "Asked: an e-mail follows if anything was found."),
                "400": error("The body is not JSON."),
                "413": error("The body is larger than 1 KiB."),
                "415": NOT_JSON,
                "422": error("Not an e-mail address or a Kenyan phone number, or an unknown language."),
                "429": error("Too many asks from this address (Retry-After)."),
                "431": HEADERS_TOO_LARGE,
                "503": UNAVAILABLE,
            },
        }
    },
    urls.TICKET_SHARED: {
        "get": {
            "summary": "One ticket by its own link: event, type, number, the holder's first name, codes.",
            "description": "The only route that names anyone (the holder's first name), and only to whoever "
            "holds the ticket's secret link, which holds its QR anyway. Nothing of the order.",
            "tags": ["tickets"],
            "parameters": [_SHARE_ID],
            "responses": {
                "200": json_answer({"type": "object"}, "The ticket.", headers=_PRIVATE),
                "404": error("No paid ticket has this link (`ticket_not_found`)."),
                "431": HEADERS_TOO_LARGE,
                "503": UNAVAILABLE,
            },
        }
    },
    urls.TICKET_CARD: {
        "get": {
            "summary": "One ticket as a card image to keep (PNG), named after the event and ticket.",
            "tags": ["tickets"],
            "parameters": [
                _SHARE_ID,
                {"name": "lang", "in": "query", "required": False, "schema": {"enum": ["en", "sw"]}},
            ],
            "responses": {
                "200": {
                    "description": "The card, named in Content-Disposition "
                    '(`filename="demo-fest-2026-early-bird-1.png"`).',
                    "headers": _PRIVATE,
                    "content": {"image/png": {"schema": BINARY}},
                },
                "404": error("No paid ticket has this link (`ticket_not_found`)."),
                "431": HEADERS_TOO_LARGE,
                "503": UNAVAILABLE,
            },
        }
    },
    urls.GATE_ADMITTED: {
        "get": {
            "summary": "Who is in: an event's paid tickets and how many are checked in, per type.",
            "tags": ["tickets"],
            "security": [{"gateToken": []}],
            "parameters": [_EVENT_SLUG],
            "responses": {
                "200": json_answer("AdmittedCount", "The count now.", headers=NO_STORE),
                "401": error("No gate staff token, or a wrong one (GATE_TOKEN)."),
                "404": error("No event has this slug (`event_not_found`)."),
                "431": HEADERS_TOO_LARGE,
                "503": error("No GATE_TOKEN is configured (`check_in_disabled`), or no database."),
            },
        }
    },
    urls.GATE_ADMITTED_STREAM: {
        "get": {
            "summary": "Who is in, live: the count, then each newer one after a check-in at any door.",
            "tags": ["tickets"],
            "security": [{"gateToken": []}],
            "parameters": [_EVENT_SLUG],
            "responses": {
                "200": {
                    "description": "The stream (`event: admitted`, id = the admitted count), a "
                    "comment every SSE_PING_INTERVAL.",
                    # OpenAPI before 3.2: `schema` describes each event of the stream.
                    "content": {"text/event-stream": {"schema": ref("AdmittedCount")}},
                },
                "401": error("No gate staff token, or a wrong one (GATE_TOKEN)."),
                "404": error("No event has this slug (`event_not_found`)."),
                "431": HEADERS_TOO_LARGE,
                "503": error(
                    "No GATE_TOKEN is configured, the broker is down, or the service is restarting."
                ),
            },
        }
    },
    urls.GATE_ADMISSION_LIST: {
        "get": {
            "summary": "The admission list an offline gate keeps: every paid ticket of the event, "
            "no personal data.",
            "tags": ["tickets"],
            "security": [{"gateToken": []}],
            "parameters": [_EVENT_SLUG],
            "responses": {
                "200": json_answer(
                    {"type": "object"},
                    "`event`, `generated_at`, `types`, `ids` (comma-joined), `short_hashes` (8 "
                    "characters a ticket), `type_of` (a character a ticket), `checked_in`, "
                    "`doubles` (docs/API.md). Gzipped when accepted.",
                    headers=NO_STORE,
                ),
                "401": error("No gate staff token, or a wrong one (GATE_TOKEN)."),
                "404": error("No event has this slug (`event_not_found`)."),
                "431": HEADERS_TOO_LARGE,
                "503": error("No GATE_TOKEN is configured (`check_in_disabled`), or no database."),
            },
        }
    },
    urls.GATE_CHECK_INS: {
        "post": {
            "summary": "An offline gate's queued check-ins, each with its scan time (gate staff only).",
            "tags": ["tickets"],
            "security": [{"gateToken": []}],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["check_ins"],
                            "properties": {
                                "gate": {"type": "string", "minLength": 1, "maxLength": 40},
                                "check_ins": {
                                    "type": "array",
                                    "minItems": 1,
                                    "maxItems": 500,
                                    "items": {
                                        "type": "object",
                                        "required": ["code", "scanned_at"],
                                        "properties": {
                                            "code": {"type": "string", "minLength": 1},
                                            "scanned_at": {"type": "string", "format": "date-time"},
                                        },
                                    },
                                },
                            },
                        }
                    }
                },
            },
            "responses": {
                "200": json_answer(
                    {"type": "object"},
                    "`results` in order (`admitted`, `admitted_twice` with `ticket.admissions`, "
                    "`not_valid`, `event_over`), `unanswered` (left for a later send past a gate "
                    "limit) and `retry_after`.",
                    headers=NO_STORE,
                ),
                "400": error("Not a JSON object with 1 to 500 scans, each a code and a time."),
                "401": error("No gate staff token, or a wrong one (GATE_TOKEN)."),
                "413": error("The body is larger than 128 KiB."),
                "415": NOT_JSON,
                "431": HEADERS_TOO_LARGE,
                "503": error("No GATE_TOKEN is configured (`check_in_disabled`), or no database."),
            },
        }
    },
    urls.TICKET_QR_PNG: _qr("image/png"),
    urls.TICKET_QR_SVG: _qr("image/svg+xml"),
}

OPS_PATHS: JSONObject = {
    urls.HEALTHZ: _ops("The process is alive.", {"200": json_answer("Alive", "Alive.")}),
    urls.READYZ: _ops(
        "The database and the broker are reachable.",
        {
            "200": json_answer("Ready", "Ready (possibly degraded)."),
            "503": json_answer("Ready", "The database is unreachable."),
        },
        description="A broker outage is `degraded` with 200: the store's safety net still answers.",
    ),
    urls.METRICS: _ops(
        "Prometheus metrics, text format 0.0.4.",
        {
            "200": {"description": "Metrics.", "content": {"text/plain": {"schema": {"type": "string"}}}},
            "401": error("METRICS_TOKEN is set and the bearer token is missing or wrong."),
        },
        security=[{}, {"metricsToken": []}],
    ),
    urls.OPENAPI: _ops("This description.", {"200": json_answer({"type": "object"}, "OpenAPI 3.1.")}),
    urls.CALLBACK: {
        "post": {
            "summary": "PayHero's callback. `{token}` is the service's secret: a wrong one is a 404.",
            "tags": ["payhero"],
            "parameters": [{"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}],
            "requestBody": body("PayHeroCallback"),
            "responses": {
                "200": json_answer(
                    "CallbackAck", "Stored and applied, a duplicate, held for `review`, or `ignored`."
                ),
                "400": error("Not a PayHero callback (it is still stored for audit)."),
                "404": error("Not Found (a wrong token, like any unknown path)."),
                "413": error("The body is past CALLBACK_MAX_BYTES."),
                "431": HEADERS_TOO_LARGE,
                "503": UNAVAILABLE,
            },
        }
    },
}
