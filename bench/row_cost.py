"""What a typed row costs against the dict it replaced: `python -m bench.row_cost`.

µs per row built from one real result record of each store (SQLite, and PostgreSQL through
asyncpg), best of several rounds on one core, for an `orders` row (25 columns) and a
`payment_pushes` row (11):
- dict: `dict(record)`, what the readers did before issue 23;
- row: `OrderRow.from_mapping(record)` / `PushRow.from_mapping(...)`, what they do now;
- attribute vs key: one column read from the row and from the dict.
Nothing here starts the service.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import timeit
from collections.abc import Callable
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from bench.postgres import temporary_database
from server.store import Database, OrderRow, PushRow, migrate, open_database, orders, payment_pushes

ORDER = {
    "id": "bench-order-000000000001",
    "order_number": "ORD-BENCH1",
    "amount": 300,
    "payment_status": "processing",
    "version": 3,
    "created_ms": 1,
    "updated_ms": 2,
    "first_name": "Amina",
    "phone": "254712345678",
}
PUSH = {"order_id": ORDER["id"], "attempt": 1, "sent_ms": 1, "outcome": "accepted"}


def per_call_us(call: Callable[[], object], number: int, rounds: int) -> float:
    return min(timeit.repeat(call, number=number, repeat=rounds)) / number * 1e6


async def records(database: Database) -> tuple[Any, Any]:
    await migrate(database)
    await database.execute(orders.insert().values(**ORDER))
    await database.execute(payment_pushes.insert().values(**PUSH))
    order = await database.fetch_one(orders.select())
    push = await database.fetch_one(payment_pushes.select())
    assert order is not None and push is not None
    return order, push


def measure(order: Any, push: Any, number: int, rounds: int) -> dict[str, float]:
    row, plain = OrderRow.from_mapping(order), dict(order)
    return {
        "order dict": per_call_us(lambda: dict(order), number, rounds),
        "order row": per_call_us(lambda: OrderRow.from_mapping(order), number, rounds),
        "push dict": per_call_us(lambda: dict(push), number, rounds),
        "push row": per_call_us(lambda: PushRow.from_mapping(push), number, rounds),
        "read by key": per_call_us(lambda: plain["payment_status"], number, rounds),
        "read attribute": per_call_us(lambda: row.payment_status, number, rounds),
    }


async def store_figures(url: str, number: int, rounds: int) -> dict[str, float]:
    database = open_database(url)
    await database.connect()
    try:
        order, push = await records(database)
        return measure(order, push, number, rounds)
    finally:
        await database.disconnect()


async def main(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    found: dict[str, dict[str, float]] = {}
    with TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'rows.sqlite3'}"
        found["sqlite"] = await store_figures(url, args.number, args.rounds)
    if not args.sqlite_only:
        async with temporary_database() as postgres_url:
            found["postgres"] = await store_figures(postgres_url, args.number, args.rounds)
    return found


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--number", type=int, default=20_000, help="calls per round")
    parser.add_argument("--rounds", type=int, default=7, help="rounds; the best is kept")
    parser.add_argument("--sqlite-only", action="store_true", help="no PostgreSQL server at hand")
    figures = asyncio.run(main(parser.parse_args()))
    print(f"{'µs per call':<16}" + "".join(f"{store:>10}" for store in figures))
    for what in next(iter(figures.values())):
        print(f"{what:<16}" + "".join(f"{figures[store][what]:>10.2f}" for store in figures))
    print(json.dumps(figures))
