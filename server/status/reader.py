"""Reading orders as status documents, one at a time or in batches for the hub.

It lives in `status/` because what it makes is a status document: in `store/` it made
the store import the status package that imports the store (an import cycle)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import sqlalchemy as sa

from server.catalogue import Catalogue
from server.lifecycle import COMPLETED
from server.status.document import DocumentTicket, StatusUpdate, status_document
from server.status.signed_tickets import load_tickets
from server.store import Database
from server.store.prepared import Prepared
from server.store.rows import OrderRow
from server.store.tables import orders

ORDER_BY_ID = Prepared(orders.select().where(orders.c.id == sa.bindparam("order_id")))

# Bound on ids per IN (...) query: well under SQLite's variable limit.
BATCH = 500


class OrderReader:
    """Turns stored orders into `StatusUpdate`s; the only read path of the status routes."""

    def __init__(
        self,
        database: Database,
        catalogue: Catalogue | None = None,
    ) -> None:
        self.database = database
        # Names the order's event and ticket types in its document (no personal data).
        self.events = catalogue.events if catalogue is not None else {}
        # Counted so benchmarks can report store reads per request (issue: reads per /wait).
        self.reads = 0
        # Of those, reads of one order by id: what a status request costs (the rest are the
        # hub's batched safety-net and resync reads, one per process, not per waiter).
        self.single_reads = 0

    async def documents(
        self,
        rows: Sequence[OrderRow],
        known_tickets: Mapping[str, list[DocumentTicket]] | None = None,
    ) -> list[StatusUpdate]:
        """Documents of `rows`; a completed order's tickets from `known_tickets` (as the
        ticket step of its payment left them) or read from the store."""
        tickets: dict[str, list[DocumentTicket]] = dict(known_tickets or {})
        missing = [row.id for row in rows if row.payment_status == COMPLETED and row.id not in tickets]
        if missing:
            tickets.update(await load_tickets(self.database, missing))
        return [
            StatusUpdate.from_document(
                status_document(row, tickets.get(row.id, []), self.events.get(row.event_slug or ""))
            )
            for row in rows
        ]

    async def get(self, order_id: str) -> StatusUpdate | None:
        self.reads += 1
        self.single_reads += 1
        row = await self.database.fetch_one(ORDER_BY_ID.bind(order_id=order_id))
        if row is None:
            return None
        return (await self.documents([OrderRow.from_mapping(row)]))[0]

    async def get_many(self, order_ids: Iterable[str]) -> list[StatusUpdate]:
        ids = list(order_ids)
        found: list[StatusUpdate] = []
        for start in range(0, len(ids), BATCH):
            self.reads += 1
            chunk = ids[start : start + BATCH]
            rows = await self.database.fetch_all(orders.select().where(orders.c.id.in_(chunk)))
            found.extend(await self.documents([OrderRow.from_mapping(row) for row in rows]))
        return found

    async def versions_changed_since(self, since_ms: int) -> dict[str, int]:
        """Ids and versions of orders changed at or after `since_ms`: the safety net's probe."""
        self.reads += 1
        query = sa.select(orders.c.id, orders.c.version).where(orders.c.updated_ms >= since_ms)
        rows = await self.database.fetch_all(query)
        return {row["id"]: row["version"] for row in rows}
