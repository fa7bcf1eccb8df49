"""Counting the outbox backlog for /metrics, whatever shape the outbox table turns out to have.

The outbox (issue 4) is built beside this. Until its table exists the backlog is 0; once it
does, a row counts as pending while its delivery column is empty. If none of the columns
below is there, the backlog is unknown (NaN on /metrics) and a warning names this file.
"""

from __future__ import annotations

import logging

from databases import Database

from server.store.database import is_postgres

log = logging.getLogger("server.metrics")

TABLE = "outbox"
# The first of these the table has marks a delivered row when it is set.
DELIVERED_COLUMNS = ("sent_ms", "delivered_ms", "sent_at", "delivered_at")

_warned = False


async def _columns(database: Database) -> set[str]:
    if is_postgres(database):
        rows = await database.fetch_all(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = :table",
            {"table": TABLE},
        )
        return {row._mapping["column_name"] for row in rows}
    rows = await database.fetch_all(f"PRAGMA table_info({TABLE})")
    return {row._mapping["name"] for row in rows}


async def outbox_backlog(database: Database) -> int | None:
    """Rows not yet delivered; 0 without an outbox table; None when they cannot be told."""
    global _warned
    columns = await _columns(database)
    if not columns:
        return 0
    delivered = next((name for name in DELIVERED_COLUMNS if name in columns), None)
    if delivered is None:
        if not _warned:
            _warned = True
            log.warning("outbox has none of %s: adapt server/ops/outbox.py", ", ".join(DELIVERED_COLUMNS))
        return None
    # `delivered` comes from the fixed list above, never from input.
    count = await database.fetch_val(f"SELECT COUNT(*) FROM {TABLE} WHERE {delivered} IS NULL")
    return int(count or 0)
