"""Which of an order's pushes a callback answers, never by elimination (issue 24).

A callback names its push by `CheckoutRequestID` (v2) or PayHero's `reference` (flat).
When no push of ours carries that id, the answer to one of them was lost (`sending` /
`unknown`). Those are the candidates:

- PayHero is asked about the callback's `reference` (`transaction-status`) where it has one.
  A record that names another order or another amount says the callback is not about any
  push of this order: it matches none (a success is held as `unknown_push`).
- One candidate: it is that one. Several: PayHero's record says when it took the push, and
  the one candidate whose sending window (from sending to giving up, give or take the clock
  skew between PayHero and us) holds that moment is the one. Otherwise it stays ambiguous:
  the callback is applied to no push (a failure then changes nothing; a success is money for
  the order, whichever prompt was paid).
- A push takes PayHero's ids only from PayHero's own push answer, or from a record that
  names this order's number and this amount. A callback's ids are never copied onto a push
  on the callback's word alone: they are what a forger would bring.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from server.clock import now_ms
from server.lifecycle import COMPLETED
from server.payhero.callback_parser import PayHeroCallback
from server.payhero.client import PayHeroClient, PaymentProviderError, TransactionStatus
from server.payments.matching import CallbackOrder
from server.payments.pushes import SENDING, UNKNOWN
from server.store import Database
from server.store.prepared import Prepared
from server.store.rows import PushRow
from server.store.tables import payment_pushes

log = logging.getLogger("server.payments")

# How far PayHero's clock and ours may disagree when PayHero's record says when it took a push.
CLOCK_SKEW_MS = 5_000

RECORD_CONFIRMED_REFERENCE = Prepared(
    payment_pushes.update()
    .where(payment_pushes.c.id == sa.bindparam("push_id"), payment_pushes.c.payhero_reference.is_(None))
    .values(payhero_reference=sa.bindparam("payhero_reference"))
)


@dataclass(frozen=True)
class MatchedPush:
    """The push a callback answers. `id` is None for an order older than push records, and
    for a callback that could not be pinned to one push (`ambiguous`)."""

    id: int | None
    attempt: int
    latest_attempt: int
    # PayHero's reference for it, from PayHero's own word only: the push's answer or a
    # transaction-status record naming this order and amount. What a success is checked by.
    payhero_reference: str | None
    # What was known of its result before this callback (a status check may have found it paid).
    result: str | None = None
    ambiguous: bool = False

    @property
    def superseded(self) -> bool:
        return not self.ambiguous and self.attempt < self.latest_attempt


def _answers(
    checkout_request_id: str | None, payhero_reference: str | None, callback: PayHeroCallback
) -> bool:
    """Whether a push with these ids (or a legacy order's own) is the one `callback` names."""
    if callback.checkout_request_id is not None:
        return checkout_request_id == callback.checkout_request_id
    return callback.reference is not None and payhero_reference == callback.reference


async def _ask(payhero: PayHeroClient, reference: str) -> TransactionStatus | None:
    try:
        return await payhero.transaction_status(reference)
    except PaymentProviderError as exc:
        log.warning("PayHero could not say what %s is: %s", reference, exc.reason)
        return None


def _taken_during(push: PushRow, taken_ms: int) -> bool:
    """Whether PayHero taking a push at `taken_ms` fits this push's sending window."""
    ended = push.answered_ms if push.answered_ms is not None else now_ms()
    return push.sent_ms - CLOCK_SKEW_MS <= taken_ms <= ended + CLOCK_SKEW_MS


def _by_time(candidates: Sequence[PushRow], heard: TransactionStatus | None) -> PushRow | None:
    if heard is None or heard.taken_ms is None:
        return None
    fitting = [push for push in candidates if _taken_during(push, heard.taken_ms)]
    return fitting[0] if len(fitting) == 1 else None


async def push_for(
    database: Database, payhero: PayHeroClient, named: CallbackOrder, callback: PayHeroCallback
) -> MatchedPush | None:
    """The push of the order that `callback` answers, or None when it answers none we sent."""
    order, pushes = named.order, named.pushes
    number, amount = order.order_number, order.amount
    if pushes:
        found = next(
            (p for p in pushes if _answers(p.checkout_request_id, p.payhero_reference, callback)), None
        )
        latest = pushes[-1].attempt
        if found is not None:
            return MatchedPush(found.id, found.attempt, latest, found.payhero_reference, found.result)
        by_checkout = callback.checkout_request_id is not None
        candidates = [
            push
            for push in pushes
            if push.outcome in (SENDING, UNKNOWN)
            and (push.checkout_request_id if by_checkout else push.payhero_reference) is None
        ]
    else:
        # An order placed before pushes were recorded: its own ids are its one push.
        if _answers(order.checkout_request_id, order.payhero_reference, callback):
            result = COMPLETED if order.payment_status == COMPLETED else None
            return MatchedPush(None, 1, 1, order.payhero_reference, result)
        unanswered = order.checkout_request_id is None and order.payhero_reference is None
        latest, candidates = 1, []
        if not unanswered:
            return None
    if pushes and not candidates:
        return None
    heard = await _ask(payhero, callback.reference) if callback.reference is not None else None
    if heard is not None and heard.contradicts(number, amount):
        log.warning(
            "callback for %s names PayHero transaction %s, which PayHero says is for %s, amount %s",
            number,
            callback.reference,
            heard.external_reference or "-",
            heard.amount,
        )
        return None
    confirmed = callback.reference if heard is not None and heard.names(number, amount) else None
    if not pushes:
        return MatchedPush(None, 1, 1, confirmed, COMPLETED if order.payment_status == COMPLETED else None)
    chosen = candidates[0] if len(candidates) == 1 else _by_time(candidates, heard)
    if chosen is None:
        log.warning(
            "callback for %s fits %d pushes whose answers were lost; PayHero's record does not say which",
            number,
            len(candidates),
        )
        return MatchedPush(None, latest, latest, confirmed, None, ambiguous=True)
    if confirmed is not None:
        await database.execute(
            RECORD_CONFIRMED_REFERENCE.bind(push_id=chosen.id, payhero_reference=confirmed)
        )
    return MatchedPush(chosen.id, chosen.attempt, latest, confirmed, chosen.result)
