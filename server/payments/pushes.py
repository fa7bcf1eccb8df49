"""Sending an STK push, and keeping a record of it whatever PayHero answers, or fails to.

Each push is written to `payment_pushes` before it is sent. Only a definite refusal fails
the order. A timeout, a dropped connection or a 5xx leaves it `processing` with the push
recorded as `unknown`: PayHero may have put the prompt on the phone, and a payment made
there is matched later by the order number it carries (`ExternalReference`).

The send runs in a task of its own, shielded from the request that asked for it: a client
that disconnects, or uvicorn cancelling requests at the end of its graceful shutdown, does
not cut a push in flight. The lifespan waits for those tasks before closing PayHero's
client and the database (`InFlight.wait`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

import sqlalchemy as sa

from server.clock import now_ms
from server.lifecycle import FAILED, PROCESSING
from server.logs import mask_phone
from server.payhero.client import OutcomeUnknown, PayHeroClient, PaymentProviderError
from server.status.document import StatusUpdate
from server.store import Database
from server.store.failures import StoreConflict
from server.store.prepared import Prepared, parameters
from server.store.rows import PushRow
from server.store.tables import payment_pushes
from server.transitions.change import Change, ChangeFields
from server.transitions.changes import StatusChanges

log = logging.getLogger("server.payments")

ACCEPTED = "accepted"
REFUSED = "refused"
UNKNOWN = "unknown"
SENDING = "sending"

# Prepared: on every checkout and callback (server/store/prepared.py says why that matters).
RECORD_PUSH = Prepared(
    payment_pushes.insert().values(parameters("order_id", "attempt", "sent_ms", "outcome"))
)
RECORD_ANSWER = Prepared(
    payment_pushes.update()
    .where(
        payment_pushes.c.order_id == sa.bindparam("order_id"),
        payment_pushes.c.attempt == sa.bindparam("attempt"),
        # A callback may have named this push already; never undo what it recorded.
        sa.or_(payment_pushes.c.outcome == SENDING, payment_pushes.c.outcome == UNKNOWN),
    )
    .values(
        outcome=sa.bindparam("outcome"),
        answered_ms=sa.bindparam("answered_ms"),
        error=sa.bindparam("error"),
        payhero_reference=sa.func.coalesce(
            sa.bindparam("payhero_reference", type_=sa.String), payment_pushes.c.payhero_reference
        ),
        checkout_request_id=sa.func.coalesce(
            sa.bindparam("checkout_request_id", type_=sa.String), payment_pushes.c.checkout_request_id
        ),
    )
)
PUSHES_OF_ORDER = Prepared(
    payment_pushes.select()
    .where(payment_pushes.c.order_id == sa.bindparam("order_id"))
    .order_by(payment_pushes.c.attempt)
)


class Payable(Protocol):
    """What a push needs of its order: an `OrderRow`, or the checkout's `OrderToPay`."""

    @property
    def id(self) -> str: ...

    @property
    def order_number(self) -> str: ...

    @property
    def amount(self) -> int: ...


@dataclass(frozen=True, slots=True)
class OrderToPay:
    """An order just created, as its first push needs it (the checkout holds no row)."""

    id: str
    order_number: str
    amount: int


class PushAttemptTaken(Exception):
    """Another request is sending this order's next push right now."""


@dataclass(frozen=True)
class PushResult:
    update: StatusUpdate
    outcome: str  # accepted, refused or unknown
    reason: str | None = None


@dataclass
class InFlight:
    """Pushes being sent; the lifespan waits for them before it closes anything they use."""

    tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    async def run(self, work: Coroutine[Any, Any, PushResult]) -> PushResult:
        task = asyncio.create_task(work, name="stk-push")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        # Shielded: cancelling the caller leaves the push and its record to finish.
        return await asyncio.shield(task)

    async def wait(self, timeout: float) -> None:
        if not self.tasks:
            return
        log.info("waiting for %d STK push(es) in flight before stopping", len(self.tasks))
        _, pending = await asyncio.wait(set(self.tasks), timeout=timeout)
        for task in pending:
            task.cancel()


async def latest_push(database: Database, order_id: str) -> PushRow | None:
    """An order's last recorded STK push, or None when it has none."""
    rows = await database.fetch_all(PUSHES_OF_ORDER.bind(order_id=order_id))
    return PushRow.from_mapping(rows[-1]) if rows else None


@dataclass
class PushSender:
    database: Database
    changes: StatusChanges
    payhero: PayHeroClient
    callback_url: str
    prompt_window: float
    in_flight: InFlight = field(default_factory=InFlight)
    # Told each push's outcome (accepted, refused, unknown): /metrics' push counter.
    on_outcome: Callable[[str], None] | None = None

    async def push(self, order: Payable, attempt: int, phone: str, customer_name: str) -> PushResult:
        """Record push `attempt` of `order`, send it, and move the order by the answer.

        Raises PushAttemptTaken when that attempt is already on record (a concurrent request).
        """
        sent = now_ms()
        try:
            await self.database.execute(
                RECORD_PUSH.bind(order_id=order.id, attempt=attempt, sent_ms=sent, outcome=SENDING)
            )
        except StoreConflict as exc:
            raise PushAttemptTaken(order.id) from exc
        return await self.in_flight.run(self._send(order, attempt, sent, phone, customer_name))

    async def _send(
        self, order: Payable, attempt: int, sent: int, phone: str, customer_name: str
    ) -> PushResult:
        order_id = order.id
        number = order.order_number
        shown: ChangeFields = {"pushes": attempt, "prompt_expires_ms": sent + int(self.prompt_window * 1000)}
        try:
            accepted = await self.payhero.initiate_stk_push(
                amount=order.amount,
                phone_number=phone,
                external_reference=number,
                customer_name=customer_name,
                callback_url=self.callback_url,
            )
        except OutcomeUnknown as exc:
            log.warning(
                "stk push outcome unknown order=%s attempt=%d phone=%s: %s; kept processing",
                order_id,
                attempt,
                mask_phone(phone),
                exc.reason,
            )
            await self._record(order_id, attempt, UNKNOWN, error=exc.reason[:255])
            note = f"push outcome unknown: {exc.reason}"[:255]
            change = Change(PROCESSING, source="stk-push", fields=shown, note=note)
            return await self._moved(order_id, change, UNKNOWN, exc.reason)
        except PaymentProviderError as exc:
            log.warning("stk push refused order=%s attempt=%d: %s", order_id, attempt, exc.reason)
            await self._record(order_id, attempt, REFUSED, error=exc.reason[:255])
            change = Change(FAILED, source="stk-push", fields={**shown, "result_desc": exc.reason[:255]})
            return await self._moved(order_id, change, REFUSED, exc.reason)
        except asyncio.CancelledError:
            # Only a hard stop gets here (the task is shielded from its request).
            await asyncio.shield(self._record(order_id, attempt, UNKNOWN, error="the process stopped"))
            raise
        log.info(
            "stk push sent order=%s attempt=%d reference=%s checkout=%s",
            order_id,
            attempt,
            accepted.reference,
            accepted.checkout_request_id,
        )
        await self._record(
            order_id,
            attempt,
            ACCEPTED,
            payhero_reference=accepted.reference,
            checkout_request_id=accepted.checkout_request_id,
        )
        fields: ChangeFields = {
            **shown,
            "payhero_reference": accepted.reference,
            "checkout_request_id": accepted.checkout_request_id,
        }
        return await self._moved(order_id, Change(PROCESSING, source="stk-push", fields=fields), ACCEPTED)

    async def _record(
        self,
        order_id: str,
        attempt: int,
        outcome: str,
        *,
        payhero_reference: str | None = None,
        checkout_request_id: str | None = None,
        error: str | None = None,
    ) -> None:
        await self.database.execute(
            RECORD_ANSWER.bind(
                order_id=order_id,
                attempt=attempt,
                outcome=outcome,
                answered_ms=now_ms(),
                payhero_reference=payhero_reference,
                checkout_request_id=checkout_request_id,
                error=error,
            )
        )

    async def adopt_orphans(self, older_than: float) -> int:
        """Pushes left `sending` by a process that died mid-push (kill -9, a crash): after
        `older_than` seconds no answer is coming. Each is recorded `unknown`, and its order
        moves to `processing` as if the answer had been lost: the prompt may have reached
        the phone. Returns how many were adopted.
        """
        cutoff = now_ms() - int(older_than * 1000)
        rows = await self.database.fetch_all(
            payment_pushes.select().where(
                payment_pushes.c.outcome == SENDING, payment_pushes.c.sent_ms < cutoff
            )
        )
        for push in (PushRow.from_mapping(row) for row in rows):
            reason = "no answer recorded: the process sending it stopped"
            log.warning(
                "stk push outcome unknown order=%s attempt=%d: %s", push.order_id, push.attempt, reason
            )
            await self._record(push.order_id, push.attempt, UNKNOWN, error=reason)
            shown: ChangeFields = {
                "pushes": push.attempt,
                "prompt_expires_ms": push.sent_ms + int(self.prompt_window * 1000),
            }
            await self.changes.apply(
                push.order_id, Change(PROCESSING, source="stk-push", fields=shown, note=reason)
            )
        return len(rows)

    async def _moved(
        self, order_id: str, change: Change, outcome: str, reason: str | None = None
    ) -> PushResult:
        result = await self.changes.apply(order_id, change)
        if self.on_outcome is not None:
            self.on_outcome(outcome)
        return PushResult(result.update, outcome, reason)
