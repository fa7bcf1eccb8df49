"""Scenario 3, throughput: orders created and callbacks applied per second, SQLite and PostgreSQL.

    python -m bench.throughput --stores sqlite,postgres --orders 2000
    python -m bench.throughput --stores postgres --orders 2000 --workers 2

For each store, a fresh service (the Procfile's command) takes `--orders` checkouts through
`POST /api/orders` (sandbox, a customer who never answers), then one success callback per
order through `POST /api/payhero/callback/{token}`, each phase over `--connections`
keep-alive connections sending back to back. Every request must get 201 / 200 and the
callback must be applied (not ignored, nor held for review).

`--workers N` (N > 1) runs the service as a multi-process deploy does: `WEB_CONCURRENCY=N`
on the shared Redis (`--redis`); the kernel gives each worker the connections it accepts,
and "server CPU" is the sum over the workers (each worker's share is in the JSON).

On PostgreSQL the tables are `ANALYZE`d between the phases, as autovacuum does within a
minute of the orders arriving: a brand-new table has no statistics, and without them the
welcome e-mail's "paid before?" probe was planned on the status index, reading every paid
order (docs/BENCHMARKS.md, section 3).
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg

from bench import runner
from bench.hundred_k import until_workers
from bench.instructions import Count, counted, valgrind_prefix
from bench.orders import Tally, create_orders, send_callbacks
from bench.postgres import temporary_database
from bench.profiling import print_summary, profiled
from bench.report import RESULTS, summary_ms, table
from bench.scale_out import REDIS_URL
from bench.service import Service
from bench.system import cpu_seconds


@contextlib.asynccontextmanager
async def database_for(store: str) -> AsyncIterator[str | None]:
    if store == "postgres":
        async with temporary_database() as url:
            yield url
    else:
        yield None  # the service's default: a SQLite file in its fresh data dir


def worker_cpu(pids: list[int]) -> list[float]:
    return [cpu_seconds(pid) for pid in pids]


async def analyze(url: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute("ANALYZE")
    finally:
        await connection.close()


def phase(name: str, tally: Tally, expected: int, cpu: list[float], count: Count | None) -> dict[str, Any]:
    ok = tally.statuses.get(expected, 0)
    return {
        "instructions": None if count is None else count.instructions,
        "phase": name,
        "requests": sum(tally.statuses.values()),
        "ok": ok,
        "errors": len(tally.failures),
        "failures": tally.failures[:10],
        "seconds": tally.seconds,
        "per_second": ok / tally.seconds if tally.seconds else 0.0,
        "latency_ms": summary_ms(tally.latencies),
        "server_cpu_s": sum(cpu),
        "server_cpu_s_by_process": cpu,
    }


async def measure(
    store: str,
    count: int,
    connections: int,
    profile: Path | None = None,
    workers: int = 1,
    redis: str = REDIS_URL,
    instructions: Path | None = None,
) -> list[dict[str, Any]]:
    async with database_for(store) as url:
        if workers > 1:
            service = Service(database_url=url, redis_url=redis, env={"WEB_CONCURRENCY": str(workers)})
        else:
            service = Service(database_url=url)
        if instructions is not None:
            if workers > 1:
                raise SystemExit("--instructions counts one process: leave --workers at 1")
            service.command_prefix = valgrind_prefix(instructions)
        # Under valgrind the imports alone take a minute.
        await service.start(timeout=60.0 if instructions is None else 600.0)
        try:
            # With one worker uvicorn serves in its own process; with more, in its children.
            pids = await until_workers(service, redis, workers) if workers > 1 else [service.pid]
            cpu = worker_cpu(pids)
            async with counted(pids[0], instructions) as in_orders:
                orders, created = await create_orders(service.port, count, connections=connections)
            cpu_created = worker_cpu(pids)
            if url is not None:
                await analyze(url)
            async with profiled(pids[0], profile), counted(pids[0], instructions) as in_callbacks:
                applied = await send_callbacks(service.port, orders, connections=connections)
            cpu_applied = worker_cpu(pids)
            log_errors = service.log_errors()
        finally:
            await service.stop()
    results = [
        phase("orders", created, 201, [b - a for a, b in zip(cpu, cpu_created, strict=True)], in_orders),
        phase(
            "callbacks",
            applied,
            200,
            [b - a for a, b in zip(cpu_created, cpu_applied, strict=True)],
            in_callbacks,
        ),
    ]
    for result in results:
        result.update(store=store, connections=connections, workers=workers, log_errors=log_errors[:10])
        result["errors"] += len(log_errors)
    return results


async def main(args: argparse.Namespace) -> dict[str, Any]:
    results = []
    if args.connections is None:
        # Under valgrind a request takes ~60 times as long: sixteen at once wait past the
        # pool's acquire limit, and one at a time is the count of one request's own work.
        args.connections = 1 if args.instructions else 16
    for store in args.stores.split(","):
        for attempt in range(args.repeat):
            profile = profile_path(args, store.strip()) if attempt == 0 else None
            measured = await measure(
                store.strip(),
                args.orders,
                args.connections,
                profile,
                workers=args.workers,
                redis=args.redis,
                instructions=(args.out or RESULTS) / "callgrind" if args.instructions else None,
            )
            for result in measured:
                result["attempt"] = attempt + 1
                results.append(result)
                print(f"  {store} {result['phase']}: {result['per_second']:.0f}/s errors={result['errors']}")
            if profile is not None:
                print_summary(profile)
    return {"orders": args.orders, "results": results}


def profile_path(args: argparse.Namespace, store: str) -> Path | None:
    """Where `--profile` puts the callbacks phase's samples (the first run of each store)."""
    if not args.profile:
        return None
    return (args.out or RESULTS) / f"throughput-callbacks-{store}.profile.txt"


def print_report(payload: dict[str, Any]) -> None:
    rows = [
        [
            r["store"],
            r["phase"],
            r.get("workers", 1),
            r["attempt"],
            r["ok"],
            r["errors"],
            r["per_second"],
            r["latency_ms"]["p50"],
            r["latency_ms"]["p99"],
            r["server_cpu_s"] / r["seconds"] if r["seconds"] else 0.0,
            1000 * r["server_cpu_s"] / r["ok"] if r["ok"] else 0.0,
            r["instructions"] / r["ok"] / 1e6 if r.get("instructions") and r["ok"] else "—",
        ]
        for r in payload["results"]
    ]
    columns = [
        "store",
        "what",
        "workers",
        "run",
        "ok",
        "errors",
        "per s",
        "p50 ms",
        "p99 ms",
        "server CPU",
        "CPU ms each",
        "M instr each",
    ]
    print(table("Order and callback throughput", columns, rows))


def cli(argv: list[str] | None = None) -> runner.Payload:
    parser = runner.parser("throughput", __doc__)
    parser.add_argument("--stores", default="sqlite,postgres", help="sqlite, postgres or both")
    parser.add_argument("--orders", type=int, default=2000, help="orders (and callbacks) per store")
    parser.add_argument(
        "--connections",
        type=int,
        default=None,
        help="client connections sending at once (16; 1 with --instructions)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per store (a fresh service each)")
    parser.add_argument("--profile", action="store_true", help="py-spy the callbacks phase of the first run")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count the service's instructions under valgrind (bench/instructions.py), one connection",
    )
    parser.add_argument("--workers", type=int, default=1, help="service worker processes (WEB_CONCURRENCY)")
    parser.add_argument(
        "--redis", default=REDIS_URL, help="the Redis the workers share (with --workers 2 or more)"
    )
    return runner.cli("throughput", parser, main, print_report, argv)


if __name__ == "__main__":
    cli()
