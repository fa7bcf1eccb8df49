"""Memory of the desk's CSV exports: streamed a page at a time, never the whole file.

    python -m bench.desk_export --orders 50000

Seeds `--orders` paid orders of one ticket each into a fresh SQLite store,
then runs each export to its end the way the route streams it, with tracemalloc on: the
peak of Python allocations above the start of the export is what the export holds at
once. For scale, the same rows read in one `fetch_all` (what an export that did not stream
would hold before writing a byte) are measured the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import tempfile
import tracemalloc
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import sqlalchemy as sa

from server.catalogue import Catalogue
from server.clock import now_ms
from server.desk.exports import PAGE, attendees_csv, payments_csv
from server.lifecycle import COMPLETED
from server.settings.variables import DEFAULT_CATALOGUE
from server.store import Database, StatementValues
from server.store.database import migrate, open_database
from server.store.tables import orders, tickets

BATCH = 1000


async def seed(database: Database, count: int) -> None:
    stamp = now_ms()
    for start in range(0, count, BATCH):
        order_rows: list[StatementValues] = []
        ticket_rows: list[StatementValues] = []
        for n in range(start, min(count, start + BATCH)):
            order_id = secrets.token_urlsafe(18)
            order_rows.append(
                {
                    "id": order_id,
                    "order_number": f"ORD-{n:06d}",
                    "event_slug": "demo-fest",
                    "ticket_type": "early-bird",
                    "quantity": 1,
                    "amount": 300,
                    "currency": "KES",
                    "payment_status": COMPLETED,
                    "version": 3,
                    "receipt_number": f"S{n:09d}",
                    "created_ms": stamp + n,
                    "updated_ms": stamp + n,
                    "first_name": "Amina",
                    "last_name": f"Otieno {n}",
                    "phone": f"2547{n:08d}",
                    "pushes": 1,
                }
            )
            ticket_id = secrets.token_urlsafe(12)
            ticket_rows.append(
                {
                    "id": ticket_id,
                    "order_id": order_id,
                    "event_slug": "demo-fest",
                    "ticket_type": "early-bird",
                    "code": f"{ticket_id}.{secrets.token_urlsafe(16)}",
                    "created_ms": stamp + n,
                }
            )
        async with database.transaction():
            await database.execute_many(orders.insert(), order_rows)
            await database.execute_many(tickets.insert(), ticket_rows)


async def peak_of(run: Callable[[], AsyncIterator[str]]) -> tuple[int, int, int]:
    """(rows written, bytes written, peak KiB of Python allocations above the start)."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    base, _ = tracemalloc.get_traced_memory()
    lines = size = 0
    async for chunk in run():
        lines += chunk.count("\r\n")
        size += len(chunk.encode())
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return lines - 1, size, (peak - base) // 1024


async def whole_read(database: Database) -> int:
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    rows = await database.fetch_all(sa.select(orders))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del rows
    return (peak - base) // 1024


async def main(count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'export.sqlite3'}"
        database = open_database(url)
        await database.connect()
        try:
            await migrate(database)
            catalogue = Catalogue.load(DEFAULT_CATALOGUE)
            await seed(database, count)
            print(f"store={url.split(':')[0]} orders={count} page={PAGE} rows")
            for name, export in (("payments", payments_csv), ("attendees", attendees_csv)):
                rows, size, peak = await peak_of(lambda export=export: export(database, catalogue))  # type: ignore[misc]
                print(f"{name:9} rows={rows} bytes={size} peak_python_kib={peak}")
            whole = await whole_read(database)
            print(f"one fetch_all of every order (not streamed): peak_python_kib={whole}")
        finally:
            await database.disconnect()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=50_000)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.orders))
