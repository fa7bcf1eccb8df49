"""The payments held for review, and what a person does about each: ask PayHero again,
complete it once the M-PESA statement shows the money, or close it as refunded outside the
service. Each action is recorded with who took it (the desk token's name, or `command line`)
and when, and shown in the order's story. `python -m server complete-order` calls
`complete_order` here, as the desk does.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import NotRequired, TypedDict

import sqlalchemy as sa

from server.catalogue import Catalogue
from server.clock import iso_from_ms, now_ms
from server.desk.reasons import reason_in_words
from server.desk.story import CallbackLine, OrderLine, callback_line, order_line, order_select
from server.json_types import JSONObject, JSONValue
from server.lifecycle import CANCELLED, PENDING, PROCESSING
from server.payhero.client import PayHeroClient, PaymentProviderError
from server.payments.review_desk import complete_after_review
from server.store import Database
from server.store.rows import CallbackRow
from server.store.tables import desk_actions, orders, payhero_callbacks, payment_pushes
from server.transitions.action_rows import action_row
from server.transitions.change import ActedBy, Change
from server.transitions.changes import StatusChanges

log = logging.getLogger("server.desk")

# As `complete-order` has always asked: an M-PESA receipt number.
RECEIPT = re.compile(r"^[A-Z0-9]{6,32}$")
ASK_PAYHERO = "ask_payhero"
CLOSE = "close"
RESEND_TICKETS = "resend_tickets"
OPERATOR_SOURCE = "operator"
QUEUE_LIMIT = 200


async def find_order_id(database: Database, order_ref: str) -> str | None:
    """An order's id from its id or its number (ORD-…)."""
    found: str | None = await database.fetch_val(
        sa.select(orders.c.id).where(
            (orders.c.id == order_ref) | (orders.c.order_number == order_ref.upper())
        )
    )
    return found


class PayHeroAnswers(TypedDict):
    """Ask PayHero again: its transaction-status answer per push reference (as received), or
    `{"error": …}` where it gave none; the desk's answer and the action's evidence."""

    answers: dict[str, JSONObject]
    note: NotRequired[str]


class ResentTickets(TypedDict):
    """Send the tickets again: the outbox row it queued."""

    outbox_key: str


async def record_action(
    database: Database,
    order_id: str,
    action: str,
    actor: str,
    *,
    note: str | None = None,
    evidence: PayHeroAnswers | ResentTickets | None = None,
    resolves: str | None = None,
) -> None:
    """An action that changes no status, recorded on its own (one statement)."""
    acted = ActedBy(action, actor, note=note, resolves=resolves)
    await database.execute(action_row(order_id, acted, now_ms(), evidence))


@dataclass(frozen=True, slots=True)
class Completion:
    order_id: str | None
    payment_status: str | None
    # Why nothing changed; None when the order was completed now.
    error: str | None = None


async def complete_order(
    database: Database, changes: StatusChanges, order_ref: str, receipt: str, note: str, actor: str
) -> Completion:
    """Complete an order a person has checked (the M-PESA statement shows the money).

    The rules are the command line's (`payments/review_desk.py`): only an order held for
    review, never with a receipt that paid for another order. It completes through the one way
    a status changes, so its tickets are signed, its e-mails queued (once, by their keys) and
    waiting browsers told, as for any payment.
    """
    done = await complete_after_review(database, changes, order_ref, receipt, note=note, actor=actor)
    if done.error is None:
        log.info("order %s completed after review by %s", done.order_id, actor)
    return Completion(done.order_id, done.payment_status, done.error)


@dataclass(frozen=True, slots=True)
class Closure:
    payment_status: str
    error: str | None = None


async def close_review(
    database: Database, changes: StatusChanges, order_id: str, note: str, actor: str
) -> Closure | None:
    """Close a held payment as refunded outside the service; None if there is no such order.

    An order still waiting for its payment is cancelled (its seats given back); a paid one
    (a second payment refunded) stays paid. The review leaves the queue either way.
    """
    row = await database.fetch_one(
        sa.select(orders.c.payment_status, orders.c.needs_review).where(orders.c.id == order_id)
    )
    if row is None:
        return None
    status, held = row["payment_status"], row["needs_review"]
    if not held:
        return Closure(status, "this order is not held for review")
    acted = ActedBy(CLOSE, actor, note=note, resolves=held)
    applied = False
    if status in (PENDING, PROCESSING):
        # The cancellation carries the action: both commit together or neither does.
        words = f"refunded outside the service: {note}"[:255]
        change = Change(CANCELLED, source=OPERATOR_SOURCE, note=words, acted_by=acted)
        result = await changes.apply(order_id, change)
        status, applied = result.update.payment_status, result.applied
    if not applied:
        # Nothing to cancel (paid, or it moved on meanwhile): the closure alone settles the review.
        await record_action(database, order_id, CLOSE, actor, note=note, resolves=held)
    log.info("review of order %s closed by %s", order_id, actor)
    return Closure(status)


async def ask_payhero(
    database: Database, payhero: PayHeroClient, order_id: str, actor: str
) -> PayHeroAnswers | None:
    """PayHero's transaction status now, for each push of the order; recorded as evidence."""
    order = await database.fetch_one(sa.select(orders.c.payhero_reference).where(orders.c.id == order_id))
    if order is None:
        return None
    rows = await database.fetch_all(
        sa.select(payment_pushes.c.payhero_reference)
        .where(payment_pushes.c.order_id == order_id, payment_pushes.c.payhero_reference.is_not(None))
        .order_by(payment_pushes.c.attempt)
    )
    references = [row["payhero_reference"] for row in rows]
    latest = order["payhero_reference"]
    if latest and latest not in references:
        references.append(latest)  # an order from before pushes were recorded
    answers: dict[str, JSONObject] = {}
    for reference in references:
        try:
            status = await payhero.transaction_status(reference)
            answers[reference] = status.raw
        except PaymentProviderError as exc:
            answers[reference] = {"error": exc.reason}
    evidence: PayHeroAnswers = (
        {"answers": answers}
        if references
        else {"answers": {}, "note": "no push of this order reached PayHero"}
    )
    await record_action(database, order_id, ASK_PAYHERO, actor, evidence=evidence)
    return evidence


@dataclass(frozen=True, slots=True)
class HeldPayment:
    order: OrderLine
    reason: str
    callbacks: list[CallbackLine]
    # PayHero's latest transaction-status answer, if somebody asked.
    payhero_answer: JSONValue
    payhero_asked_at: str | None


async def review_queue(database: Database, catalogue: Catalogue) -> list[HeldPayment]:
    """Every order held for review whose reason no desk action has settled, oldest first."""
    settled = sa.exists(
        sa.select(desk_actions.c.id).where(
            desk_actions.c.order_id == orders.c.id, desk_actions.c.resolves == orders.c.needs_review
        )
    )
    rows = await database.fetch_all(
        order_select()
        .where(orders.c.needs_review.is_not(None), ~settled)
        .order_by(orders.c.updated_ms)
        .limit(QUEUE_LIMIT)
    )
    held = []
    for m in rows:
        callbacks = await database.fetch_all(
            sa.select(payhero_callbacks)
            .where(payhero_callbacks.c.order_id == m["id"])
            .order_by(payhero_callbacks.c.id)
        )
        asked = await database.fetch_one(
            sa.select(desk_actions.c.evidence, desk_actions.c.created_ms)
            .where(desk_actions.c.order_id == m["id"], desk_actions.c.action == ASK_PAYHERO)
            .order_by(desk_actions.c.id.desc())
            .limit(1)
        )
        held.append(
            HeldPayment(
                order=order_line(m, catalogue),
                reason=reason_in_words(m["needs_review"]),
                callbacks=[callback_line(CallbackRow.from_mapping(c)) for c in callbacks],
                payhero_answer=json.loads(asked["evidence"]) if asked is not None else None,
                payhero_asked_at=iso_from_ms(asked["created_ms"]) if asked is not None else None,
            )
        )
    return held
