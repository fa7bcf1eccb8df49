""" "Lost your tickets?": an e-mail with a link to each paid order's ticket page.

Anyone can type any address or number, so the answer is the same whoever asks and whatever
is found: nobody learns whether an address or a number has bought anything. What is found
goes only to the e-mail address the paid orders were bought with, through the outbox, at
most once per window for that address (the outbox key carries the window's number). Asking
is limited per client address (a refusal names no contact: it cannot tell anything) and per
contact (past it, the request is answered the same and sends nothing: whoever owns the
address has had an e-mail already).
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from server.abuse.addresses import client_key
from server.abuse.rate_windows import Quota, Refused, Windows
from server.catalogue import Catalogue
from server.clock import now_ms
from server.json_types import JSONValue
from server.languages import DEFAULT_LANGUAGE, LANGUAGES
from server.lifecycle import COMPLETED
from server.mail.kinds import LOST_TICKETS, LostOrderItem, LostTicketsLetter
from server.orders.validation import EMAIL_PATTERN, normalise_phone
from server.store import Database
from server.store.tables import customers, orders
from server.transitions.outbox_rows import enqueue

log = logging.getLogger("server.orders")

# The e-mail goes at most once per this window per address (its outbox key names the window).
MAIL_WINDOW_SECONDS = 15 * 60
# Asks per client address and per contact, in this many seconds.
LIMIT_WINDOW_SECONDS = 60 * 60
PER_CLIENT = 20
PER_CONTACT = 5
# A customer with many orders gets the latest this many (an e-mail, not an archive).
MAX_ORDERS = 20
# `{lostlimit}`: one Redis Cluster slot for both keys of a take (see push_limits.py).
KEY_PREFIX = "payment-status:{lostlimit}:"


class LostInvalid(ValueError):
    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields


class LostLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"lost-tickets limit reached; retry after {retry_after}s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class LostRequest:
    # A lower-cased e-mail address, or a phone number as 2547XXXXXXXX / 2541XXXXXXXX.
    contact: str
    by_phone: bool
    language: str = DEFAULT_LANGUAGE


def parse_lost(body: JSONValue) -> LostRequest:
    """`{"contact": "<e-mail or phone>", "language": "en"|"sw"}`, checked; LostInvalid if not."""
    if not isinstance(body, dict):
        raise LostInvalid({"body": "must be a JSON object"})
    raw = body.get("contact")
    language = body.get("language", DEFAULT_LANGUAGE)
    fields = {}
    if language not in LANGUAGES:
        fields["language"] = f"must be one of {', '.join(LANGUAGES)}"
    if not isinstance(raw, str) or not raw.strip():
        fields["contact"] = "is required"
    elif len(raw) > 254:
        fields["contact"] = "is not an e-mail address or a Kenyan phone number"
    if fields:
        raise LostInvalid(fields)
    text = str(raw).strip()
    if "@" in text:
        if not EMAIL_PATTERN.match(text):
            raise LostInvalid({"contact": "is not an e-mail address or a Kenyan phone number"})
        return LostRequest(text.lower(), False, str(language))
    phone = normalise_phone(text)
    if phone is None:
        raise LostInvalid({"contact": "is not an e-mail address or a Kenyan phone number"})
    return LostRequest(phone, True, str(language))


@dataclass(frozen=True)
class FoundOrder:
    order_id: str
    order_number: str
    event_slug: str
    ticket_type: str
    quantity: int
    email: str
    first_name: str


def _hashed(value: str) -> str:
    # Neither addresses nor numbers sit in plain sight in Redis keys or outbox keys.
    return hashlib.sha256(value.encode()).hexdigest()[:32]


_PAID = sa.select(
    orders.c.id,
    orders.c.order_number,
    orders.c.event_slug,
    orders.c.ticket_type,
    orders.c.quantity,
    customers.c.email,
    sa.func.coalesce(orders.c.first_name, customers.c.first_name).label("first_name"),
).select_from(orders.join(customers, orders.c.customer_id == customers.c.id))


@dataclass
class LostTickets:
    database: Database
    catalogue: Catalogue
    windows: Windows
    # Wakes the outbox's worker when an e-mail was queued.
    on_queued: Callable[[], None] = lambda: None

    async def ask(self, request: LostRequest, client: str) -> None:
        """Queue the e-mail(s) for `request` if anything is paid; LostLimited for the client."""
        quotas = [
            Quota("ip", KEY_PREFIX + "ip:" + _hashed(client_key(client)), PER_CLIENT, LIMIT_WINDOW_SECONDS),
            Quota(
                "contact",
                KEY_PREFIX + "contact:" + _hashed(request.contact),
                PER_CONTACT,
                LIMIT_WINDOW_SECONDS,
            ),
        ]
        taken = await self.windows.take(quotas)
        if isinstance(taken, Refused):
            if taken.quota.name == "ip":
                raise LostLimited(max(1, math.ceil(taken.retry_after)))
            return  # this contact asked often enough: answered the same, nothing sent
        found = await self.paid_orders(request)
        by_recipient: dict[str, list[FoundOrder]] = {}
        for order in found:
            by_recipient.setdefault(order.email, []).append(order)
        window = now_ms() // (MAIL_WINDOW_SECONDS * 1000)
        queued = 0
        for recipient, listed in by_recipient.items():
            added = await enqueue(
                self.database,
                key=f"lost:{_hashed(recipient)}:{window}",
                kind=LOST_TICKETS,
                order_id=None,
                recipient=recipient,
                payload=self._payload(listed, request.language),
            )
            queued += added
        log.info(
            "lost tickets asked by=%s orders=%d e-mails=%d",
            "phone" if request.by_phone else "email",
            len(found),
            queued,
        )
        if queued:
            self.on_queued()

    async def paid_orders(self, request: LostRequest) -> list[FoundOrder]:
        where = orders.c.phone if request.by_phone else customers.c.email
        query = (
            _PAID.where(where == request.contact, orders.c.payment_status == COMPLETED)
            .order_by(orders.c.created_ms.desc())
            .limit(MAX_ORDERS)
        )
        return [
            FoundOrder(
                order_id=row["id"],
                order_number=row["order_number"],
                event_slug=row["event_slug"] or "",
                ticket_type=row["ticket_type"] or "",
                quantity=int(row["quantity"]),
                email=row["email"],
                first_name=row["first_name"] or "",
            )
            for row in await self.database.fetch_all(query)
        ]

    def _payload(self, listed: list[FoundOrder], language: str) -> LostTicketsLetter:
        items: list[LostOrderItem] = []
        for order in listed:
            found = self.catalogue.find(order.event_slug, order.ticket_type)
            event, ticket_type = found if found is not None else (None, None)
            items.append(
                {
                    "order_id": order.order_id,
                    "order_number": order.order_number,
                    "event_name": event.name if event else order.event_slug,
                    "event_starts_at": event.starts_at if event else "",
                    "event_timezone": event.timezone if event else "",
                    "ticket_type_name": ticket_type.name if ticket_type else order.ticket_type,
                    "quantity": order.quantity,
                }
            )
        # The newest order's name greets them: the name they bought with most recently.
        return {"language": language, "first_name": listed[0].first_name, "orders": items}
