"""Receiving PayHero's callback: store it as received, then apply it, idempotently.

The body is committed to `payhero_callbacks` before anything else (DESIGN rule 6), and
each stored callback is marked with what it did:

- `applied`: it changed the order;
- `duplicate`: the order already says exactly this (a retry, a concurrent delivery);
- `ignored: <why>`: a failure that changes nothing and brings no money (a cancel after
  the order was paid, a failure of a push a newer one has replaced);
- `review: <why>`: it may carry money but was not applied; a person must look
  (docs/OPERATIONS.md names each reason and what to do). The order is marked too.

Nothing that brings money is ever `ignored`. One not yet marked when the process died is
applied again at start; the state rules make the second application a no-op.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import NamedTuple, NotRequired, TypedDict

import sqlalchemy as sa

from server.clock import now_ms
from server.faults import crash_if
from server.lifecycle import COMPLETED, TERMINAL, ReviewReason
from server.payhero.callback_parser import CallbackInvalid, PayHeroCallback, parse_callback
from server.payhero.client import PayHeroClient, PaymentProviderError
from server.payments.attribution import MatchedPush, push_for
from server.payments.matching import (
    CALLBACK_SOURCE,
    STORE_CALLBACK,
    CallbackOrder,
    failed_by_provider,
    note_result,
    order_for,
    store_and_find,
)
from server.payments.spool import CallbackSpool
from server.store import Database, StoreUnavailable
from server.store.database import is_postgres
from server.store.prepared import Prepared
from server.store.rows import OrderRow
from server.store.tables import orders, payhero_callbacks
from server.transitions.callback_rows import APPLIED, mark_callback
from server.transitions.change import Change, ChangeFields, FromCallback
from server.transitions.changes import StatusChanges
from server.transitions.receipts import ReceiptTaken

log = logging.getLogger("server.payments")

HOLD_FOR_REVIEW = Prepared(
    orders.update().where(orders.c.id == sa.bindparam("order_id")).values(needs_review=sa.bindparam("reason"))
)

DUPLICATE = "duplicate"
# Why a failure changed nothing (`ignored: <why>`): it answers a push a newer one replaced,
# or no single push could be named for it (attribution.py), so it cannot end the order.
SUPERSEDED_PUSH = "superseded_push"
AMBIGUOUS_PUSH = "ambiguous_push"
# The metrics' outcome of a callback the store refused and the spool kept.
SPOOLED = "spooled"


class CallbackAnswer(TypedDict):
    """What the webhook answers PayHero (docs/API.md): the order and its status, and why a
    callback was not applied (`ignored`) or was held (`review`)."""

    ok: bool
    order_id: str | None
    payment_status: str | None
    ignored: NotRequired[str]
    review: NotRequired[str]


@dataclass(frozen=True)
class CallbackOutcome:
    order_id: str | None
    payment_status: str | None = None
    ignored: str | None = None
    review: str | None = None

    @property
    def recorded(self) -> str:
        """The stored outcome, e.g. `review: amount_mismatch`."""
        if self.review is not None:
            return f"review: {self.review}"
        if self.ignored is not None:
            return f"ignored: {self.ignored}"
        return APPLIED

    def body(self) -> CallbackAnswer:
        body: CallbackAnswer = {"ok": True, "order_id": self.order_id, "payment_status": self.payment_status}
        if self.review is not None:
            body["review"] = self.review
        if self.ignored is not None:
            body["ignored"] = self.ignored
        return body


class Matched(NamedTuple):
    """A parsed callback with the order and the push it answers."""

    callback: PayHeroCallback
    order: OrderRow
    push: MatchedPush


@dataclass(frozen=True)
class CallbackProcessor:
    database: Database
    changes: StatusChanges
    payhero: PayHeroClient
    verify_success: bool = False
    # Told (result, outcome) for every callback applied: /metrics' callback and review counters.
    on_outcome: Callable[[str, str], None] | None = None
    # Told the task's name when one stored callback could not be applied at all (a bad row).
    on_error: Callable[[str], None] | None = None
    crash_point: str | None = None
    # Where a body goes that the store refused before storing it (spool.py); None: nowhere.
    spool: CallbackSpool | None = None

    async def receive(self, body: bytes, *, keep_if_refused: bool = True) -> CallbackOutcome:
        """Store `body`, then apply it. Raises CallbackInvalid for a body that is no callback,
        and StoreUnavailable when the store refused it; refused before it was stored, it is
        kept in the spool for the store (unless `keep_if_refused` is off: the spool's replay)."""
        stored = False
        try:
            # One pool connection for the store and the lookup that follows, taken once: on
            # PostgreSQL a statement run on its own takes and gives back a pool connection,
            # which cost more of the service's CPU than the statement (docs/BENCHMARKS.md).
            async with self.database.connection():
                # PostgreSQL stores and looks up in one statement, so parses first; a body
                # that does not parse is stored alone first, as on SQLite.
                callback = _parsed(body) if is_postgres(self.database) else None
                if callback is not None:
                    inbox_id, found = await store_and_find(self.database, body, now_ms(), callback)
                else:
                    inbox_id, found = await self._store(body, None), None
                stored = True
                crash_if(self.crash_point, "after-callback-stored")
                if callback is not None:
                    matched = await self._matched(inbox_id, callback, found)
                else:
                    matched = await self._match(inbox_id, body)
                if not self._may_ask_payhero(matched):
                    # Decided on the connection already held: a pool connection taken and
                    # given back fewer per payment on PostgreSQL.
                    return await self._decide(inbox_id, matched)
        except StoreUnavailable:
            # Refused with the INSERT unanswered, it may be stored after all: kept anyway,
            # it comes back as a duplicate at worst. Stored, the expiry pass applies it.
            if not stored and keep_if_refused and self.spool is not None and await self.spool.keep(body):
                self._count(SPOOLED, "unstored")
            raise
        return await self._decide(inbox_id, matched)

    async def replay_spooled(self) -> int:
        """Store and apply the callbacks the spool kept while the store refused them."""
        if self.spool is None:
            return 0
        return await self.spool.replay(self._receive_kept)

    async def _receive_kept(self, body: bytes) -> None:
        try:
            await self.receive(body, keep_if_refused=False)
        except CallbackInvalid:
            pass  # stored and marked invalid, as when it first came

    async def replay(self, original_id: int, body: bytes) -> tuple[int, CallbackOutcome]:
        """Apply a stored callback again as a new row beside it (`replay_of`): the original
        keeps the outcome and time it had. Raises CallbackInvalid as `receive` does."""
        inbox_id = await self._store(body, original_id)
        log.info("callback %d replays callback %d", inbox_id, original_id)
        return inbox_id, await self.apply_stored(inbox_id, body)

    async def _store(self, body: bytes, replay_of: int | None) -> int:
        stored = await self.database.fetch_val(
            STORE_CALLBACK.bind(received_ms=now_ms(), body=body, replay_of=replay_of)
        )
        return int(stored)

    async def apply_stored(self, inbox_id: int, body: bytes) -> CallbackOutcome:
        async with self.database.connection():
            matched = await self._match(inbox_id, body)
        return await self._decide(inbox_id, matched)

    async def _match(self, inbox_id: int, body: bytes) -> CallbackOutcome | Matched:
        """The callback parsed, its order and push found and the push's result noted; or
        the outcome already, for a callback that names no order or push of ours."""
        try:
            callback = parse_callback(body)
        except CallbackInvalid as exc:
            await self._mark(inbox_id, f"invalid: {exc}"[:64], None, "unparsed")
            log.warning("callback %d rejected: %s", inbox_id, exc)
            raise
        return await self._matched(inbox_id, callback, await order_for(self.database, callback))

    async def _matched(
        self, inbox_id: int, callback: PayHeroCallback, found: CallbackOrder | None
    ) -> CallbackOutcome | Matched:
        log.info(
            "callback received id=%d shape=%s reference=%s checkout=%s payhero=%s result=%s",
            inbox_id,
            callback.shape,
            callback.external_reference,
            callback.checkout_request_id or "-",
            callback.reference or "-",
            callback.target_status,
        )
        if found is None:
            return await self._not_applied(inbox_id, None, ReviewReason.UNKNOWN_ORDER, callback)
        order = found.order
        push = await push_for(self.database, self.payhero, found, callback)
        if push is None:
            return await self._not_applied(inbox_id, order, ReviewReason.UNKNOWN_PUSH, callback)
        if callback.target_status != COMPLETED:
            # A success is noted on its push once applied: a held one is no result of it.
            await note_result(self.database, push.id, callback)
        return Matched(callback, order, push)

    async def _decide(self, inbox_id: int, matched: CallbackOutcome | Matched) -> CallbackOutcome:
        if isinstance(matched, CallbackOutcome):
            return matched
        callback, order, push = matched
        if callback.target_status == COMPLETED:
            return await self._success(inbox_id, callback, order, push)
        async with self.database.connection():
            return await self._failure(inbox_id, callback, order, push)

    async def replay_unprocessed(self, older_than: float | None = None) -> int:
        """Apply callbacks stored but never marked: at start, those a process died between
        storing and applying; with `older_than` (each expiry pass), those stored more than
        that many seconds ago that a request could not apply (the store refused it after the row was
        written: a pool timeout under load). PayHero documents no retry, so the pass is what
        applies them; the cutoff leaves alone a row a request may still be applying.

        A row that cannot be applied at all is logged and counted, and the rest go on.
        """
        query = (
            sa.select(payhero_callbacks.c.id, payhero_callbacks.c.body)
            .where(payhero_callbacks.c.processed_ms.is_(None))
            .order_by(payhero_callbacks.c.id)
        )
        if older_than is not None:
            query = query.where(payhero_callbacks.c.received_ms < now_ms() - int(older_than * 1000))
        rows = await self.database.fetch_all(query)
        went_through = 0
        for row in rows:
            inbox_id = row["id"]
            try:
                await self.apply_stored(inbox_id, bytes(row["body"]))
            except CallbackInvalid:
                continue
            except Exception:
                log.exception("stored callback %d could not be applied; going on with the next", inbox_id)
                if self.on_error is not None:
                    self.on_error("callback-replay")
            else:
                went_through += 1
        if rows and older_than is None:
            log.info("replayed %d stored callback(s) left unapplied by an earlier process", len(rows))
        elif rows:
            log.warning(
                "%d of %d stored callback(s) a request had stored but not applied went through now",
                went_through,
                len(rows),
            )
        return len(rows)

    async def _success(
        self, inbox_id: int, callback: PayHeroCallback, order: OrderRow, push: MatchedPush
    ) -> CallbackOutcome:
        if order.payment_status == COMPLETED:
            return await self._already_paid(inbox_id, callback, order, push)
        problem = await self._success_problem(callback, order, push)
        if problem is not None:
            return await self._not_applied(inbox_id, order, problem, callback)
        fields: ChangeFields = {
            "result_code": 0 if callback.result_code is None else callback.result_code,
            "result_desc": callback.result_desc,
            "receipt_number": callback.receipt_number,
        }
        # Marked applied, and noted on its push, in the change's own transaction.
        paying = FromCallback(inbox_id, push.id, callback.receipt_number)
        change = Change(COMPLETED, source=CALLBACK_SOURCE, fields=fields, from_callback=paying)
        # Held from here, not across the problem check above: that may wait on PayHero.
        async with self.database.connection():
            try:
                result = await self.changes.apply(order.id, change)
            except ReceiptTaken as taken:
                log.warning("receipt of callback %d already paid for order %s", inbox_id, taken.owner)
                return await self._not_applied(inbox_id, order, ReviewReason.RECEIPT_REUSED, callback)
            if not result.applied:
                await note_result(self.database, push.id, callback)
                # Another delivery completed it a moment ago: the same payment, or a second one.
                now = result.update.document
                current = replace(
                    order,
                    payment_status=now["payment_status"],
                    version=now["version"],
                    result_code=now["result_code"],
                    result_desc=now["result_desc"],
                    receipt_number=now["receipt_number"],
                    pushes=now["pushes"],
                )
                return await self._already_paid(inbox_id, callback, current, push)
        self._count(APPLIED, COMPLETED)
        return CallbackOutcome(order.id, payment_status=COMPLETED)

    async def _already_paid(
        self, inbox_id: int, callback: PayHeroCallback, order: OrderRow, push: MatchedPush
    ) -> CallbackOutcome:
        # No receipt on record: completed by a status check that did not name one. If that
        # check found this very push paid, the callback is that payment's own.
        known = order.receipt_number
        if known == callback.receipt_number or (known is None and push.result == COMPLETED):
            await self._mark(inbox_id, DUPLICATE, order.id, COMPLETED)
            return CallbackOutcome(order.id, payment_status=COMPLETED)
        # Another receipt: the customer paid twice (two prompts, both answered). One set of
        # tickets; the second payment is for a person to refund.
        return await self._not_applied(inbox_id, order, ReviewReason.DOUBLE_PAYMENT, callback)

    async def _failure(
        self, inbox_id: int, callback: PayHeroCallback, order: OrderRow, push: MatchedPush
    ) -> CallbackOutcome:
        target = callback.target_status
        status = order.payment_status
        if status not in TERMINAL and push.superseded:
            # The customer asked for a new prompt; the old one failing changes nothing.
            return await self._not_applied(inbox_id, order, SUPERSEDED_PUSH, callback)
        if status not in TERMINAL and push.ambiguous:
            # It may be an old prompt's failure: the latest push, or the expiry pass, decides.
            return await self._not_applied(inbox_id, order, AMBIGUOUS_PUSH, callback)
        if status not in TERMINAL:
            fields: ChangeFields = {"result_code": callback.result_code, "result_desc": callback.result_desc}
            failing = FromCallback(inbox_id)
            change = Change(target, source=CALLBACK_SOURCE, fields=fields, from_callback=failing)
            result = await self.changes.apply(order.id, change)
            status = result.update.payment_status
            if result.applied:
                self._count(APPLIED, target)
                return CallbackOutcome(order.id, payment_status=status)
        if status == target:
            await self._mark(inbox_id, DUPLICATE, order.id, target)
            return CallbackOutcome(order.id, payment_status=status)
        return await self._not_applied(
            inbox_id, replace(order, payment_status=status), f"already_{status}", callback
        )

    def _may_ask_payhero(self, matched: CallbackOutcome | Matched) -> bool:
        """Whether deciding `matched` may wait on PayHero (`_success_problem` asks it about a
        success it doubts), so must not hold a pool connection meanwhile. Errs towards yes."""
        if not isinstance(matched, Matched) or matched.callback.target_status != COMPLETED:
            return False
        order, push = matched.order, matched.push
        if order.payment_status == COMPLETED:
            return False  # a duplicate or a second payment: decided from the rows
        return self._may_doubt(order, push)

    def _may_doubt(self, order: OrderRow, push: MatchedPush) -> bool:
        """Whether a success for `push` may be checked with PayHero: always in verify mode,
        and where PayHero said that push failed or the order has already ended."""
        return self.verify_success or _push_failed(push) or order.payment_status in TERMINAL

    async def _success_problem(
        self, callback: PayHeroCallback, order: OrderRow, push: MatchedPush
    ) -> str | None:
        """Why a success callback must not complete this order, or None."""
        if callback.amount != order.amount:
            log.warning(
                "callback amount %s does not match order %s amount %s: held for review",
                callback.amount,
                order.id,
                order.amount,
            )
            return ReviewReason.AMOUNT_MISMATCH
        if callback.receipt_number is None:
            return ReviewReason.MISSING_RECEIPT
        if not self._may_doubt(order, push):
            return None
        # PayHero said this push failed (its callback, noted on the push), or ended the order
        # (a callback, or its transaction status read by the expiry pass).
        contradicts = _push_failed(push) or (
            order.payment_status in TERMINAL and await failed_by_provider(self.database, order)
        )
        if not (self.verify_success or contradicts):
            return None
        # PayHero's own record for that push decides: a success after PayHero said the
        # payment failed or was cancelled is believed only if PayHero now says SUCCESS.
        reason = ReviewReason.CONTRADICTS_PROVIDER if contradicts else ReviewReason.UNVERIFIED
        if push.payhero_reference is None:
            log.warning("success for order %s cannot be checked: no PayHero reference", order.id)
            return reason
        try:
            status = await self.payhero.transaction_status(push.payhero_reference)
        except PaymentProviderError as exc:
            log.warning("could not verify callback for order %s: %s", order.id, exc.reason)
            return reason
        if not status.succeeded:
            log.warning("PayHero says %s for order %s: success not applied", status.status, order.id)
            return reason
        if status.contradicts(order.order_number, order.amount):
            log.warning("PayHero's record of that payment is for another order or amount: %s", order.id)
            return reason
        if status.receipt_number is not None and status.receipt_number != callback.receipt_number:
            log.warning("PayHero's receipt for order %s is not the callback's", order.id)
            return reason
        return None

    async def _not_applied(
        self,
        inbox_id: int,
        order: OrderRow | None,
        reason: str,
        callback: PayHeroCallback,
    ) -> CallbackOutcome:
        """`review: reason` for anything that may carry money, `ignored: reason` otherwise."""
        order_id = order.id if order is not None else None
        status = order.payment_status if order is not None else None
        target = callback.target_status
        if target != COMPLETED:
            await self._mark(inbox_id, f"ignored: {reason}", order_id, target)
            log.info("callback %d ignored: %s order=%s", inbox_id, reason, order_id or "-")
            return CallbackOutcome(order_id, payment_status=status, ignored=reason)
        # The order is held before the callback is marked: the mark is what counts the
        # review on /metrics (and what says "processed" to the start-up replay), so an alert
        # never points at an order that does not show it yet, and a crash between the two
        # replays the callback, which holds the order again.
        if order_id is not None:
            await self.database.execute(
                HOLD_FOR_REVIEW.bind(order_id=order_id, reason=f"review: {reason} (callback {inbox_id})")
            )
        await self._mark(inbox_id, f"review: {reason}", order_id, target)
        log.warning(
            "callback %d held for review: %s order=%s receipt=%s amount=%s",
            inbox_id,
            reason,
            order_id or "-",
            callback.receipt_number or "-",
            callback.amount,
        )
        return CallbackOutcome(order_id, payment_status=status, review=reason)

    async def _mark(self, inbox_id: int, outcome: str, order_id: str | None, result: str) -> None:
        await mark_callback(
            self.database, inbox_id=inbox_id, outcome=outcome, order_id=order_id, at_ms=now_ms()
        )
        self._count(outcome, result)

    def _count(self, outcome: str, result: str) -> None:
        if self.on_outcome is not None:
            # "invalid: <parser message>" has free text: one label value for all of them.
            label = "invalid" if outcome.startswith("invalid") else outcome.replace(": ", ":")
            self.on_outcome(result, label)


def _parsed(body: bytes) -> PayHeroCallback | None:
    """`body` parsed, or None for one that is no callback or that the parser cannot take:
    that one is stored first and parsed again after (`_match`), as DESIGN rule 6 wants."""
    try:
        return parse_callback(body)
    except Exception:
        return None


def _push_failed(push: MatchedPush) -> bool:
    """PayHero said this push failed (its callback, noted on the push)."""
    return push.result is not None and push.result != COMPLETED
