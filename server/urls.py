"""Every URL the service answers or hands out, written once (as Datasette's `urls`).

Routes register these templates, documents and e-mails build links with the functions below,
OpenAPI lists the same templates, and the fast paths that answer past the Router match with
the Router's own compiled pattern of the same template, so no path is spelled twice and none
can drift from the route that serves it.
"""

from __future__ import annotations

import re

from starlette.routing import compile_path

__all__ = [
    "CALLBACK",
    "DESK_DOOR",
    "DESK_EXPORT_ATTENDEES",
    "DESK_EXPORT_PAYMENTS",
    "DESK_LIVE",
    "DESK_ME",
    "DESK_ORDER",
    "DESK_ORDERS",
    "DESK_ORDER_ASK",
    "DESK_ORDER_CLOSE",
    "DESK_ORDER_COMPLETE",
    "DESK_ORDER_RESEND",
    "DESK_PAGE",
    "DESK_REVIEWS",
    "DESK_SALES",
    "EVENTS",
    "GATE_ADMISSION_LIST",
    "GATE_ADMITTED",
    "GATE_ADMITTED_STREAM",
    "GATE_CHECK_INS",
    "GATE_PAGE",
    "GATE_SERVICE_WORKER",
    "GATE_SESSION",
    "HEALTHZ",
    "HOME_PAGE",
    "IMAGE_CACHE_CONTROL",
    "METRICS",
    "OPENAPI",
    "ORDER",
    "ORDERS",
    "ORDER_CALENDAR",
    "ORDER_CANCEL",
    "ORDER_EVENTS",
    "ORDER_PUSH",
    "ORDER_WAIT",
    "PAYMENT_PAGE",
    "READYZ",
    "STATIC",
    "TICKETS_LOST",
    "TICKET_CARD",
    "TICKET_CHECK_IN",
    "TICKET_PAGE",
    "TICKET_QR_PNG",
    "TICKET_QR_SVG",
    "TICKET_SHARED",
    "TICKET_VERIFY",
    "calendar_url",
    "desk_order_url",
    "events_url",
    "order_url",
    "payment_page_url",
    "qr_url",
    "router_pattern",
    "ticket_card_url",
    "ticket_page_url",
    "wait_url",
]

# The catalogue and checkout.
EVENTS = "/api/events"
ORDERS = "/api/orders"
# One order: its status, its held routes, its actions and its calendar file.
ORDER = "/api/orders/{order_id}"
ORDER_WAIT = ORDER + "/wait"
ORDER_EVENTS = ORDER + "/events"
ORDER_PUSH = ORDER + "/push"
ORDER_CANCEL = ORDER + "/cancel"
ORDER_CALENDAR = ORDER + "/calendar.ics"
# Tickets: their QR images and the gate's calls.
TICKET_QR_PNG = "/api/tickets/{ticket_id}/qr.png"
TICKET_QR_SVG = "/api/tickets/{ticket_id}/qr.svg"
TICKET_VERIFY = "/api/tickets/verify"
TICKET_CHECK_IN = "/api/tickets/check-in"
# One ticket by its own secret link (server/tickets/share_links.py): as data, and as a card image.
TICKET_SHARED = "/api/tickets/shared/{share_id}"
TICKET_CARD = TICKET_SHARED + "/card.png"
# "Lost your tickets?": an e-mail with each paid order's ticket page.
TICKETS_LOST = "/api/tickets/lost"
# The gate page checks its token here on entry.
GATE_SESSION = "/api/gate/session"
# Who is in: an event's count now, and as a stream (SSE) that moves with every check-in.
GATE_ADMITTED = "/api/gate/events/{event_slug}/admitted"
GATE_ADMITTED_STREAM = GATE_ADMITTED + "/stream"
# Offline: the list a gate judges against with no network, and its queue sent back later.
GATE_ADMISSION_LIST = "/api/gate/events/{event_slug}/admission-list"
GATE_CHECK_INS = "/api/gate/check-ins"
# PayHero's webhook: the token is a secret (never logged, server/logs.py).
CALLBACK = "/api/payhero/callback/{token}"
# The pages.
HOME_PAGE = "/"
PAYMENT_PAGE = "/payment/{order_id}"
GATE_PAGE = "/gate"
DESK_PAGE = "/desk"
# One ticket, for its holder or a friend: the ticket only, not the order.
TICKET_PAGE = "/ticket/{share_id}"
# The gate's service worker: at the root, so that it may control `/gate` (its scope).
GATE_SERVICE_WORKER = "/gate-sw.js"
STATIC = "/static/{version}/{path:path}"
# The organiser's desk (DESK_TOKEN): figures, orders, the review queue, exports.
DESK_ME = "/api/desk/me"
DESK_SALES = "/api/desk/sales"
DESK_DOOR = "/api/desk/door"
DESK_LIVE = "/api/desk/live"
DESK_ORDERS = "/api/desk/orders"
DESK_ORDER = DESK_ORDERS + "/{order_id}"
DESK_ORDER_ASK = DESK_ORDER + "/ask-payhero"
DESK_ORDER_COMPLETE = DESK_ORDER + "/complete"
DESK_ORDER_CLOSE = DESK_ORDER + "/close"
DESK_ORDER_RESEND = DESK_ORDER + "/resend-tickets"
DESK_REVIEWS = "/api/desk/reviews"
DESK_EXPORT_ATTENDEES = "/api/desk/exports/attendees.csv"
DESK_EXPORT_PAYMENTS = "/api/desk/exports/payments.csv"
# For operators and machines.
HEALTHZ = "/healthz"
READYZ = "/readyz"
METRICS = "/metrics"
OPENAPI = "/openapi.json"

# A QR image never changes for its ticket id (the code is signed once): cached for a year.
IMAGE_CACHE_CONTROL = "private, max-age=31536000, immutable"


def order_url(order_id: str) -> str:
    return ORDER.format(order_id=order_id)


def desk_order_url(order_id: str) -> str:
    return DESK_ORDER.format(order_id=order_id)


def wait_url(order_id: str) -> str:
    return ORDER_WAIT.format(order_id=order_id)


def events_url(order_id: str) -> str:
    return ORDER_EVENTS.format(order_id=order_id)


def calendar_url(order_id: str) -> str:
    return ORDER_CALENDAR.format(order_id=order_id)


def payment_page_url(order_id: str) -> str:
    return PAYMENT_PAGE.format(order_id=order_id)


def qr_url(ticket_id: str) -> str:
    return TICKET_QR_PNG.format(ticket_id=ticket_id)


def ticket_page_url(share_id: str) -> str:
    return TICKET_PAGE.format(share_id=share_id)


def ticket_card_url(share_id: str) -> str:
    return TICKET_CARD.format(share_id=share_id)


def router_pattern(template: str) -> re.Pattern[str]:
    """The pattern Starlette's Router matches `template` with: for a fast path past it."""
    pattern, _, _ = compile_path(template)
    return pattern
