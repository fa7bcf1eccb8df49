"""A payment's pipeline, in one ordered list: what a status change does, and in what order.

Inside the change's transaction (after the order row's conditional UPDATE and its history
row), so each commits with the change or not at all:

1. the callback the change applies, marked `applied`, and a success noted on its push
   (first: these rows are the callback's own, so they wait on nobody, and the shared rows
   below, such as a ticket type's seats, are not held two statements longer);
2. a payment's receipt claimed: one receipt completes one order, or the change rolls back;
3. seats follow the status: given back on failure, taken again by a late payment;
4. ticket codes signed on payment, before
5. the outbox rows of the payment's e-mails, which carry those codes;
6. the desk action the change carries out, if a person made it (who, and when).

Steps 1, 2, 4 and 5 keep their statements for later (`Database.execute_later`,
`fetch_column_later`): none reads what another writes, so on PostgreSQL they go together,
after the steps, in one round trip where there were three. Then each step that must know
what came back confirms it, in the same order: a receipt claimed already raises
`ReceiptTaken`; a ticket code not written (its first short code held) raises
`SigningMissed`, and the change runs once more signing one ticket at a time.

After the commit, so each sees only committed rows:

1. the change published: local waiters, then the broker (other processes);
2. the outbox worker woken on payment, after the waiters: the customer's page first;
3. the event's sales bell rung, for the organiser's desk (`server/status/bells.py`).

Each step is a named type, built here and nowhere else: the write core
(`transitions/changes.py`) calls the pipeline, never a callable it cannot name. The metrics
of the fan-out are the hub's observer (passed in its constructor), told per change fanned
out, in this process or from the broker.
"""

from __future__ import annotations

from dataclasses import dataclass

from server.catalogue import Catalogue
from server.lifecycle import COMPLETED
from server.mail.delivery import OutboxWorker
from server.status.bells import sales_channel
from server.status.hub import StatusHub
from server.tickets.codes import TicketSigner
from server.transitions.action_rows import RecordActionWithChange
from server.transitions.callback_rows import MarkCallbackWithChange
from server.transitions.change import ChangeInProgress, ChangeResult
from server.transitions.outbox_rows import OutboxWriter
from server.transitions.receipts import ReceiptPaysOnce
from server.transitions.seats import SeatsFollowStatus
from server.transitions.ticket_codes import TicketIssuer


@dataclass(frozen=True)
class PublishToWaiters:
    """Local waiters at once, then the broker for other processes (the hub does both)."""

    hub: StatusHub

    async def __call__(self, result: ChangeResult) -> None:
        await self.hub.publish(result.update)


@dataclass(frozen=True)
class WakeOutboxOnPayment:
    """The e-mails of a payment go out now rather than at the worker's next poll."""

    worker: OutboxWorker

    async def __call__(self, result: ChangeResult) -> None:
        if result.update.payment_status == COMPLETED:
            self.worker.notify()


@dataclass(frozen=True)
class RingSalesBell:
    """Every change moves an event's figures (sold, being paid, seats left): the desks of
    every process re-read them. Last, and rate-bounded by the bell: waiters come first."""

    hub: StatusHub

    async def __call__(self, result: ChangeResult) -> None:
        event = result.update.document.get("event")
        if isinstance(event, dict) and event.get("slug"):
            await self.hub.bells.ring(sales_channel(str(event["slug"])))


@dataclass(frozen=True)
class Pipeline:
    """The steps of a status change besides its UPDATE and history row, run in this order:
    the order is part of the contract (ticket codes before the e-mail that carries them;
    waiters told before the outbox worker wakes)."""

    callback: MarkCallbackWithChange
    receipts: ReceiptPaysOnce
    seats: SeatsFollowStatus
    tickets: TicketIssuer
    outbox: OutboxWriter
    action: RecordActionWithChange
    publish: PublishToWaiters
    wake: WakeOutboxOnPayment
    sales: RingSalesBell

    async def in_transaction(self, change: ChangeInProgress) -> None:
        await self.callback(change)
        await self.receipts(change)
        await self.seats(change)
        await self.tickets(change)
        await self.outbox(change)
        await self.action(change)
        # What the steps kept for later goes now (on PostgreSQL in one round trip: the
        # receipt's claim, the tickets' codes, the outbox rows and the writes before them),
        # and each step reads what came back, in the steps' order.
        await change.database.send_kept()
        await self.receipts.confirm(change)
        self.tickets.confirm(change)
        self.outbox.confirm(change)

    async def after_commit(self, result: ChangeResult) -> None:
        # Quick: the webhook answers after these, so none may wait on SMTP or anything as slow.
        await self.publish(result)
        await self.wake(result)
        await self.sales(result)


def payment_pipeline(
    *, hub: StatusHub, catalogue: Catalogue, signer: TicketSigner, outbox: OutboxWorker
) -> Pipeline:
    """The service's pipeline, its steps built from what they need."""
    return Pipeline(
        callback=MarkCallbackWithChange(),
        receipts=ReceiptPaysOnce(),
        seats=SeatsFollowStatus(),
        tickets=TicketIssuer(signer),
        outbox=OutboxWriter(catalogue),
        action=RecordActionWithChange(),
        publish=PublishToWaiters(hub),
        wake=WakeOutboxOnPayment(outbox),
        sales=RingSalesBell(hub),
    )
