"""Scenario 5, scale-out: two service processes on one Redis and one PostgreSQL.

    python -m bench.scale_out --waiters 100,5000

Two services (the Procfile's command, each on its own port) share a PostgreSQL database
made for this run and the Redis at `--redis`. Orders are created through process B; their
waiters (half SSE, half `/wait`) are held on process A; the callbacks go to process B. So
every status reaches its waiter only through Redis: B commits and publishes, A's single
subscriber connection hears it and fans it out. At each waiter count the Redis connections
of each process are counted with CLIENT LIST (the broker names its connections
`payment-status:{pid}:{random}`); the design says that number does not grow with waiters.
Then every held order is completed through B, and each must be delivered on A.

`--broker` picks what carries B's changes to A (issue 19, cross-worker latency per broker):
`redis` (the default), `postgres` (no Redis: PostgreSQL's LISTEN/NOTIFY on the same database),
or `memory` (no Redis, one SQLite file shared by both: nothing carries the change, and A's
waiters hear of it only from the safety net's re-read, up to `SAFETY_NET_INTERVAL` later).

    python -m bench.scale_out --broker postgres --waiters 100
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from bench import runner
from bench.delivery import complete
from bench.metrics import DELIVERED, PUBLISHED, WATCHES
from bench.orders import new_orders
from bench.postgres import temporary_database
from bench.report import table
from bench.service import Service
from bench.waiters import FirstChanges, Waiter, close_all, open_waiters, split_kinds

REDIS_URL = "redis://127.0.0.1:6379/0"


async def redis_clients(redis_url: str) -> dict[int, tuple[int, int]]:
    """Per service process (pid): its Redis connections and the channels they subscribe to.

    Read from CLIENT LIST, by the name the broker gives each connection
    (`payment-status:{pid}:{random}`) and its `sub` count.
    """
    admin = aioredis.from_url(redis_url)
    try:
        clients = await admin.client_list()
    finally:
        await admin.aclose()
    found: dict[int, tuple[int, int]] = {}
    for client in clients:
        parts = str(client.get("name", "")).split(":")
        if len(parts) == 3 and parts[0] == "payment-status" and parts[1].isdigit():
            connections, subscriptions = found.get(int(parts[1]), (0, 0))
            found[int(parts[1])] = (connections + 1, subscriptions + int(client.get("sub", 0)))
    return found


async def redis_connections(redis_url: str, pid: int) -> int:
    """Connections Redis sees from the service process `pid`, by the name its broker gives them."""
    return (await redis_clients(redis_url)).get(pid, (0, 0))[0]


@contextlib.asynccontextmanager
async def shared_store(broker: str) -> AsyncIterator[str]:
    """The database both processes use: PostgreSQL, or one SQLite file for `memory`."""
    if broker == "memory":
        with tempfile.TemporaryDirectory(prefix="payment-status-bench-") as directory:
            yield f"sqlite+aiosqlite:///{Path(directory) / 'shared.sqlite3'}"
        return
    async with temporary_database() as url:
        yield url


async def main(args: argparse.Namespace) -> dict[str, Any]:
    steps = runner.sizes(args.waiters)
    redis_url = args.redis if args.broker == "redis" else None
    async with shared_store(args.broker) as url:
        a = Service(database_url=url, redis_url=redis_url, name="a")
        b = Service(database_url=url, redis_url=redis_url, name="b")
        await a.start()
        await b.start()
        waiters: list[Waiter] = []
        try:
            orders = await new_orders(b.port, max(steps))
            heard = FirstChanges()
            plan = split_kinds(orders)
            counts = []
            for step in steps:
                waiters += await open_waiters(a, plan[len(waiters) : step], hold=args.hold, on_status=heard)
                await asyncio.sleep(1.0)
                counts.append(
                    {
                        "waiters": len(waiters),
                        "held_on_a": int((await a.metrics())[WATCHES]),
                        "redis_connections_a": await redis_connections(redis_url, a.pid) if redis_url else 0,
                        "redis_connections_b": await redis_connections(redis_url, b.pid) if redis_url else 0,
                        "rss_a_kb": a.rss_kb(),
                    }
                )
                print(f"  {counts[-1]}", flush=True)
            delivery = await complete(b.port, waiters, heard, connections=args.connections)
            metrics_a, metrics_b = await a.metrics(), await b.metrics()
            log_errors = a.log_errors() + b.log_errors()
        finally:
            close_all(waiters)
            await a.stop()
            await b.stop()
    return {
        "broker": args.broker,
        "redis": redis_url,
        "steps": counts,
        **delivery.summary(waiters, log_errors),
        "published_by_b": metrics_b.get(PUBLISHED, 0.0),
        "delivered_on_a": metrics_a.get(DELIVERED, 0.0),
    }


def print_report(payload: dict[str, Any]) -> None:
    rows = [
        [
            s["waiters"],
            s["held_on_a"],
            s["redis_connections_a"],
            s["redis_connections_b"],
            s["rss_a_kb"] / 1024,
        ]
        for s in payload["steps"]
    ]
    columns = ["waiters on A", "held (A's /metrics)", "Redis conns A", "Redis conns B", "RSS A MB"]
    print(table("Scale-out: Redis connections per process, by waiters held", columns, rows))
    lat = payload["latency_ms"]
    nan = float("nan")
    rows = [
        [
            payload["completed"],
            payload["delivered"],
            payload["errors"],
            payload["callbacks_per_second"],
            lat.get("p50", nan),
            lat.get("p99", nan),
            lat.get("max", nan),
        ]
    ]
    columns = ["callbacks to B", "delivered on A", "errors", "callbacks/s", "p50 ms", "p99 ms", "max ms"]
    print()
    through = {"redis": "Redis", "postgres": "PostgreSQL LISTEN/NOTIFY", "memory": "the safety net"}
    broker = through.get(payload.get("broker", "redis"), "Redis")
    print(table(f"Scale-out: callbacks on B, statuses delivered on A through {broker}", columns, rows))


def cli(argv: list[str] | None = None) -> runner.Payload:
    parser = runner.parser("scale_out", __doc__)
    parser.add_argument("--waiters", default="100,5000", help="waiter counts held on A, in steps")
    parser.add_argument("--redis", default=REDIS_URL, help="the Redis both processes share")
    parser.add_argument(
        "--broker",
        choices=["redis", "postgres", "memory"],
        default="redis",
        help="what carries B's changes to A: Redis, PostgreSQL's LISTEN/NOTIFY, or nothing (SQLite)",
    )
    parser.add_argument("--hold", type=float, default=25.0, help="seconds each /wait asks to be held")
    parser.add_argument("--connections", type=int, default=4, help="callback sender connections")
    return runner.cli("scale_out", parser, main, print_report, argv)


if __name__ == "__main__":
    cli()
