"""A payment's pipeline, in one ordered list: what a status change does, and in what order.

Inside the change's transaction (after the order row's conditional UPDATE and its history
row), so each commits with the change or not at all:

1. seats follow the status: given back on failure, taken again by a late payment;
2. ticket codes signed on payment, before
3. the outbox rows of the payment's e-mails, which carry those codes.

After the commit, so each sees only committed rows:

1. the change published: local waiters, then the broker (other processes);
2. the outbox worker woken on payment, after the waiters: the customer's page first.

The metrics of the fan-out are the hub's observer (passed in its constructor), told per
change fanned out, in this process or from the broker.
"""

from __future__ import annotations

from server.catalogue import Catalogue
from server.lifecycle import COMPLETED
from server.mail.delivery import OutboxWorker
from server.mail.outbox import OutboxWriter
from server.orders.seats import seats_follow_status
from server.status.changes import AfterCommit, ChangeResult, Pipeline
from server.status.hub import StatusHub
from server.tickets.codes import TicketSigner
from server.tickets.issuing import TicketIssuer


def publish_to(hub: StatusHub) -> AfterCommit:
    async def publish(result: ChangeResult) -> None:
        await hub.publish(result.update)

    return publish


def wake_on_payment(worker: OutboxWorker) -> AfterCommit:
    async def wake(result: ChangeResult) -> None:
        if result.update.payment_status == COMPLETED:
            worker.notify()

    return wake


def payment_pipeline(
    *, hub: StatusHub, catalogue: Catalogue, signer: TicketSigner, outbox: OutboxWorker
) -> Pipeline:
    return Pipeline(
        in_transaction=(
            seats_follow_status,
            TicketIssuer(signer),
            OutboxWriter(catalogue),
        ),
        after_commit=(
            publish_to(hub),
            wake_on_payment(outbox),
        ),
    )
