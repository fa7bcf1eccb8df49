"""Scenario 1, idle waiters: how much server memory does each held customer cost?

    python -m bench.idle_waiters --sizes 1000,5000,10000,15000

For each size, a fresh service (the Procfile's command, SQLite, in-process broker) gets
that many orders written straight into its store, then half as many SSE streams, then half
as many held `/wait` requests, each on its own order and connection. The server's RSS is
read before, after the streams and after the long polls, so the cost of one SSE stream and
of one held `/wait` are measured apart. Errors are anything a waiter did not get as the
API promises (connect failures, non-200, a stream or poll cut short) and ERROR lines in
the service log.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from bench import runner
from bench.metrics import READS, WATCHES
from bench.report import table
from bench.seed import seed_orders
from bench.service import Service
from bench.system import cpu_seconds
from bench.waiters import SSE, WAIT, close_all, errors, open_waiters

WARM_UP = 200


async def settle(service: Service, seconds: float) -> int:
    """Let the process reach a steady state; returns the RSS at the end (KiB)."""
    await asyncio.sleep(seconds)
    return service.rss_kb()


async def until_no_watches(service: Service, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while (await service.metrics())[WATCHES] > 0:
        if time.monotonic() > deadline:
            raise TimeoutError("warm-up waiters still held on the server")
        await asyncio.sleep(0.1)


async def measure(size: int, *, hold: float, batch: int, settle_s: float) -> dict[str, Any]:
    service = Service(env={"WAIT_TIMEOUT_MAX": str(max(28.0, hold))})
    orders = await seed_orders(service.database_url, size + WARM_UP)
    warm, orders = orders[:WARM_UP], orders[WARM_UP:]
    half = size // 2
    await service.start()
    waiters = []
    try:
        # Warm-up: the first waiters pay for lazy imports and caches, not for holding. Their
        # holds are short because a closed /wait is only noticed when its hold ends.
        warm_plan = [(SSE if i % 2 else WAIT, o) for i, o in enumerate(warm)]
        close_all(await open_waiters(service, warm_plan, hold=1.0, batch=batch))
        await until_no_watches(service)
        rss_base = await settle(service, settle_s)
        cpu_base = cpu_seconds(service.pid)

        started = time.perf_counter()
        waiters += await open_waiters(service, [(SSE, o) for o in orders[:half]], hold=hold, batch=batch)
        sse_ramp = time.perf_counter() - started
        rss_sse = await settle(service, settle_s)

        started = time.perf_counter()
        waiters += await open_waiters(service, [(WAIT, o) for o in orders[half:size]], hold=hold, batch=batch)
        wait_ramp = time.perf_counter() - started
        rss_all = await settle(service, settle_s)

        metrics = await service.metrics()
        held_server = int(metrics[WATCHES])
        failed = errors(waiters)
        n_wait = size - half
        return {
            "size": size,
            "sse": half,
            "wait": n_wait,
            "held_on_server": held_server,
            "errors": sum(failed.values()) + len(service.log_errors()),
            "error_kinds": dict(failed),
            "log_errors": service.log_errors()[:20],
            "rss_base_kb": rss_base,
            "rss_sse_kb": rss_sse,
            "rss_all_kb": rss_all,
            "kb_per_waiter": (rss_all - rss_base) / size,
            "kb_per_sse": (rss_sse - rss_base) / half,
            "kb_per_wait": (rss_all - rss_sse) / n_wait,
            "sse_ramp_s": sse_ramp,
            "wait_ramp_s": wait_ramp,
            "server_cpu_s": cpu_seconds(service.pid) - cpu_base,
            "wait_requests": sum(w.requests for w in waiters if w.kind == WAIT),
            "store_reads": metrics[READS],
        }
    finally:
        close_all(waiters)
        await service.stop()


async def main(args: argparse.Namespace) -> dict[str, Any]:
    results = await runner.each_size(
        args.sizes,
        args.repeat,
        lambda size: measure(size, hold=args.hold, batch=args.batch, settle_s=args.settle),
        lambda result: f"errors={result['errors']} {result['kb_per_waiter']:.1f} KB/waiter",
    )
    return {"hold_s": args.hold, "results": results}


def print_report(payload: dict[str, Any]) -> None:
    rows = [
        [
            r["size"],
            r["attempt"],
            r["errors"],
            r["held_on_server"],
            r["rss_base_kb"] / 1024,
            r["rss_all_kb"] / 1024,
            r["kb_per_waiter"],
            r["kb_per_sse"],
            r["kb_per_wait"],
            r["sse_ramp_s"] + r["wait_ramp_s"],
        ]
        for r in payload["results"]
    ]
    columns = ["waiters", "run", "errors", "held", "RSS before MB", "RSS held MB"]
    columns += ["KB/waiter", "KB/SSE", "KB/wait", "ramp s"]
    print(table("Idle waiters: one uvicorn process, half SSE, half /wait", columns, rows))


def cli(argv: list[str] | None = None) -> runner.Payload:
    parser = runner.parser("idle_waiters", __doc__)
    parser.add_argument("--sizes", default="1000,5000,10000,15000", help="waiter counts, e.g. 1000,5k,15k")
    parser.add_argument("--repeat", type=int, default=1, help="runs per size (a fresh service each)")
    runner.add_holding(parser)
    return runner.cli("idle_waiters", parser, main, print_report, argv)


if __name__ == "__main__":
    cli()
