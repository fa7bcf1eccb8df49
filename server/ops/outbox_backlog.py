"""The e-mail outbox's backlog, for /metrics: rows not yet sent, and how long the oldest waits."""

from __future__ import annotations

import sqlalchemy as sa

from server.clock import now_ms
from server.store import Database
from server.store.tables import outbox


async def outbox_backlog(database: Database) -> tuple[int, float]:
    """(unsent rows, seconds the oldest of them has waited; 0 when none)."""
    row = await database.fetch_one(
        sa.select(sa.func.count(), sa.func.min(outbox.c.created_ms)).where(outbox.c.sent_ms.is_(None))
    )
    count, oldest = (row[0], row[1]) if row is not None else (0, None)
    age = max(0.0, (now_ms() - int(oldest)) / 1000) if oldest is not None else 0.0
    return int(count or 0), age
