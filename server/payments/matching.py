"""Finding what a callback is about: its order, then the push of that order it answers.

The order is found by the order number PayHero echoes (`ExternalReference` /
`external_reference`), the push by its `CheckoutRequestID` (v2) or PayHero's `reference`
(API 2.0). A push whose answer never reached us (`sending`/`unknown`, no ids recorded) is
the one a callback with ids we do not know answers: the ids are recorded on it then (the
newest such push for a success, the oldest for a failure).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from databases import Database

from server.lifecycle import COMPLETED
from server.payhero.callback_parser import PayHeroCallback
from server.payments.pushes import SENDING, UNKNOWN
from server.store.prepared import Prepared
from server.store.tables import order_changes, orders, payment_pushes

_PUSH = "push_"
# The order a callback names and all its pushes in one round trip, where two statements
# were two: one row per push, or one row with no push for an order that has none.
ORDER_AND_PUSHES = Prepared(
    sa.select(orders, *(column.label(_PUSH + column.name) for column in payment_pushes.c))
    .select_from(orders.outerjoin(payment_pushes, payment_pushes.c.order_id == orders.c.id))
    .where(orders.c.order_number == sa.bindparam("order_number"))
    .order_by(payment_pushes.c.attempt)
)
NOTE_RESULT = Prepared(
    payment_pushes.update()
    .where(
        payment_pushes.c.id == sa.bindparam("push_id"),
        # A success is never overwritten by a later failure's word.
        sa.or_(payment_pushes.c.result.is_(None), payment_pushes.c.result != COMPLETED),
    )
    .values(result=sa.bindparam("result"), receipt_number=sa.bindparam("receipt_number"))
)
LAST_CHANGE_SOURCE = Prepared(
    sa.select(order_changes.c.source)
    .where(order_changes.c.order_id == sa.bindparam("order_id"))
    .order_by(order_changes.c.version.desc())
    .limit(1)
)


@dataclass(frozen=True)
class MatchedPush:
    """The push a callback answers. `id` is None for an order older than push records."""

    id: int | None
    attempt: int
    latest_attempt: int
    payhero_reference: str | None
    # What was known of its result before this callback (a status check may have found it paid).
    result: str | None = None

    @property
    def superseded(self) -> bool:
        return self.attempt < self.latest_attempt


@dataclass(frozen=True)
class CallbackOrder:
    """The order a callback names, and its pushes by attempt."""

    order: dict[str, Any]
    pushes: list[dict[str, Any]]


async def order_for(database: Database, callback: PayHeroCallback) -> CallbackOrder | None:
    rows = await database.fetch_all(ORDER_AND_PUSHES.bind(order_number=callback.external_reference))
    if not rows:
        return None
    order = {column.name: rows[0]._mapping[column.name] for column in orders.c}
    pushes = [
        {column.name: row._mapping[_PUSH + column.name] for column in payment_pushes.c}
        for row in rows
        if row._mapping[_PUSH + "id"] is not None
    ]
    return CallbackOrder(order, pushes)


def _answers(push: Mapping[str, Any], callback: PayHeroCallback) -> bool:
    if callback.checkout_request_id is not None:
        return bool(push["checkout_request_id"] == callback.checkout_request_id)
    return callback.reference is not None and push["payhero_reference"] == callback.reference


async def push_for(database: Database, named: CallbackOrder, callback: PayHeroCallback) -> MatchedPush | None:
    """The push of the order that `callback` answers, or None when it answers none we sent."""
    order, pushes = named.order, named.pushes
    if not pushes:
        # An order placed before pushes were recorded: its own ids are its one push.
        legacy = {
            "checkout_request_id": order["checkout_request_id"],
            "payhero_reference": order["payhero_reference"],
        }
        unanswered = order["checkout_request_id"] is None and order["payhero_reference"] is None
        if unanswered or _answers(legacy, callback):
            result = COMPLETED if order["payment_status"] == COMPLETED else None
            return MatchedPush(None, 1, 1, order["payhero_reference"] or callback.reference, result)
        return None
    latest = pushes[-1]["attempt"]
    found = next((push for push in pushes if _answers(push, callback)), None)
    if found is None:
        # Our record of PayHero's answer is missing (lost, late, or not written yet):
        # the most recent such push is the one this callback answers.
        kind = "checkout_request_id" if callback.checkout_request_id is not None else "payhero_reference"
        open_ones = [push for push in pushes if push["outcome"] in (SENDING, UNKNOWN) and push[kind] is None]
        if not open_ones:
            return None
        # A success completes the order whichever push it answers: the newest. A failure
        # taken for the newest would end the order while that prompt may still be open on
        # the phone (bench.flash_sale: the old prompt's late 1037 after "send again"), so
        # it is the oldest's; if it was the newest's after all, the expiry pass ends it.
        found = open_ones[-1] if callback.target_status == COMPLETED else open_ones[0]
        await database.execute(
            payment_pushes.update()
            .where(payment_pushes.c.id == found["id"])
            .values(checkout_request_id=callback.checkout_request_id, payhero_reference=callback.reference)
        )
    reference = found["payhero_reference"] or callback.reference
    return MatchedPush(found["id"], found["attempt"], latest, reference, found["result"])


async def note_result(database: Database, push: MatchedPush, callback: PayHeroCallback) -> None:
    """Record on the push what its callback said (a success is never overwritten)."""
    if push.id is None:
        return
    await database.execute(
        NOTE_RESULT.bind(
            push_id=push.id, result=callback.target_status, receipt_number=callback.receipt_number
        )
    )


async def failed_by_provider(database: Database, order: Mapping[str, Any]) -> bool:
    """Whether the order's last change came from PayHero's own callback (not our timer)."""
    source = await database.fetch_val(LAST_CHANGE_SOURCE.bind(order_id=order["id"]))
    return bool(source == CALLBACK_SOURCE)


CALLBACK_SOURCE = "payhero-callback"
