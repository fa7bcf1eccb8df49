"""One ticket by its own secret link: `GET /api/tickets/shared/{share_id}` (its page's data)
and `…/card.png` (the ticket as an image to keep).

The only routes that name the holder (their first name), and only for whoever holds the
ticket's link, which holds its QR anyway (DESIGN rule 7, API.md). Nothing about the order:
no order id or number, amount, phone, e-mail or receipt.
"""

from __future__ import annotations

import asyncio
from functools import cache

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server.http_errors import ApiError
from server.languages import LANGUAGES, choose_language, load_words
from server.services import services
from server.tickets.shared_tickets import SharedTicket, card_text, find_shared_ticket
from server.tickets.ticket_card import ticket_card_png
from server.urls import TICKET_CARD, TICKET_SHARED, qr_url, ticket_card_url, ticket_page_url

# The holder's name is in these answers: no shared cache keeps them, no Referer carries the link.
PRIVATE = {"Cache-Control": "private, no-store", "Referrer-Policy": "no-referrer"}


@cache
def _words() -> dict[str, dict[str, str]]:
    return load_words()


async def _found(request: Request) -> SharedTicket:
    svc = services(request)
    ticket = await find_shared_ticket(svc.database, svc.catalogue, request.path_params["share_id"])
    if ticket is None:
        raise ApiError(404, "ticket_not_found", "No ticket has this link.")
    return ticket


async def shared_ticket(request: Request) -> Response:
    ticket = await _found(request)
    share = request.path_params["share_id"]
    event = ticket.event
    return JSONResponse(
        {
            "ticket_id": ticket.ticket_id,
            "ticket_type": ticket.ticket_type,
            "ticket_type_name": ticket.ticket_type_name,
            "number": ticket.number,
            "count": ticket.count,
            "holder_first_name": ticket.first_name,
            "code": ticket.code,
            "short_code": ticket.short_code,
            "qr_url": qr_url(ticket.ticket_id),
            "card_url": ticket_card_url(share),
            "card_name": ticket.file_name,
            "share_url": ticket_page_url(share),
            "event": {
                "slug": ticket.event_slug,
                "name": event.name if event else ticket.event_slug,
                "starts_at": event.starts_at if event else None,
                "ends_at": event.ended_at if event else None,
                "timezone": event.timezone if event else None,
                "venue": event.venue if event else None,
            },
        },
        headers=PRIVATE,
    )


async def ticket_card(request: Request) -> Response:
    ticket = await _found(request)
    asked = request.query_params.get("lang", "")
    language = asked if asked in LANGUAGES else choose_language(request.headers.get("accept-language"))
    text = card_text(ticket, _words()[language])
    png = await asyncio.to_thread(ticket_card_png, text, ticket.code)
    disposition = f'attachment; filename="{ticket.file_name}"'
    return Response(png, media_type="image/png", headers={**PRIVATE, "Content-Disposition": disposition})


routes = [
    Route(TICKET_SHARED, shared_ticket, methods=["GET"]),
    Route(TICKET_CARD, ticket_card, methods=["GET"]),
]
