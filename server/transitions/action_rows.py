"""The `desk_actions` row of a person's action: who did what to an order, and when.

One writer of the row's values for both ways it is written: inside a status change's
transaction when the action is the change (`ActedBy` on the change: Complete, Close), or on
its own when nothing else changes (Ask PayHero again, Send the tickets again, Close of a paid
order), through `server/desk/reviews.py`'s `record_action`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import sqlalchemy as sa

from server.store.tables import desk_actions
from server.transitions.change import ActedBy, ChangeInProgress


def action_row(
    order_id: str, acted: ActedBy, at_ms: int, evidence: Mapping[str, object] | None = None
) -> sa.Insert:
    """The `desk_actions` row of what a person did to an order, and when.

    `evidence` is a JSON object, each action's own TypedDict (server/desk/reviews.py names
    them): mypy takes a TypedDict as a `Mapping[str, object]`, never as a dict of JSON values.
    """
    return desk_actions.insert().values(
        order_id=order_id,
        action=acted.action,
        actor=acted.actor[:64],
        note=acted.note[:255] if acted.note else None,
        receipt_number=acted.receipt,
        evidence=json.dumps(evidence) if evidence is not None else None,
        resolves=acted.resolves,
        created_ms=at_ms,
    )


class RecordActionWithChange:
    """In the change's transaction: a change a person made carries its actor, so a crash can
    never leave a completion in `order_changes` without the name of who completed it."""

    async def __call__(self, change: ChangeInProgress) -> None:
        acted = change.change.acted_by
        if acted is not None:
            order = change.order
            await change.database.execute(action_row(order.id, acted, order.updated_ms))
