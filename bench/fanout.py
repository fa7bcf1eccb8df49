"""Scenario 2, fan-out latency: with thousands held, how soon does each payment reach its waiter?

    python -m bench.fanout --held 10000 --complete 1000

A fresh service (the Procfile's command) takes `--held` orders through `POST /api/orders`;
each gets a waiter on its own connection, half SSE and half `/wait`, all held at once.
Then one client completes `--complete` of them through the real callback route, one
callback after the other on one connection (as fast as one client can: the next is sent
when the last is answered). The completed orders are half SSE and half `/wait`, spread
over the ramp, and each kind's latency is reported apart. With `--pin` (the default on a
machine with two cores or more) the service runs on core 1 and this client on core 0.
For each: callback sent -> status received by its waiter,
both read on this process's clock. Also: time from the first callback sent until every
completed order was delivered, and any waiter that got nothing, or an error.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from bench import runner
from bench.delivery import complete
from bench.metrics import WATCHES, pauses
from bench.orders import new_orders
from bench.postgres import temporary_database
from bench.profiling import print_summary, profiled
from bench.report import RESULTS, summary_ms, table
from bench.service import Service
from bench.system import cpu_seconds, pin
from bench.waiters import SSE, WAIT, FirstChanges, Waiter, close_all, open_waiters, split_kinds


class Kinded(Protocol):
    @property
    def kind(self) -> str: ...


K = TypeVar("K", bound=Kinded)


def pick_both_kinds(waiters: list[K], count: int) -> list[K]:
    """`count` waiters, half of each kind, evenly spread over the order they were opened in.

    Taking every n-th waiter of the whole list picked one kind only whenever n was even
    (waiters alternate SSE and /wait), so a "half and half" row measured SSE alone.
    Waiters, or anything with a kind (bench.hundred_k's plan, whose waiters are elsewhere).
    """
    chosen: list[K] = []
    kinds = [SSE, WAIT]
    for index, kind in enumerate(kinds):
        of_kind = [w for w in waiters if w.kind == kind]
        share = count // len(kinds) + (1 if index < count % len(kinds) else 0)
        step = max(1, len(of_kind) // share) if share else 1
        chosen += of_kind[::step][:share]
    return chosen


STALL = re.compile(
    r"event loop stalled (\d+) ms \((\d+) ms of it in garbage collection"
    r"(?:, (\d+) ms on CPU in the last (\d+) ms)?\)"
)


def longest_stall_without_gc(service: Service) -> tuple[float, float]:
    """The longest loop stall (ms) the collector does not explain, from the service's log,
    and the CPU (ms) the loop's thread used over that stall's sampling window.

    server/ops/pauses.py logs each stall of 100 ms or more with its share spent in GC and
    the CPU used: CPU near the window's length is a synchronous step of our own; far below
    it, the process waited for a core (a loaded host).
    """
    nan = float("nan")
    try:
        text = service.log_path.read_text(errors="replace")
    except OSError:
        return nan, nan
    stalls = [(int(lag) - int(gc), float(cpu) if cpu else nan) for lag, gc, cpu, _ in STALL.findall(text)]
    return max(stalls, default=(0.0, nan))


async def measure(
    held: int,
    to_complete: int,
    *,
    hold: float,
    store: str,
    connections: int,
    profile: Path | None,
    pinned: bool,
) -> dict[str, Any]:
    if store == "postgres":
        async with temporary_database() as url:
            return await _measure(
                held, to_complete, hold=hold, url=url, connections=connections, profile=profile, pinned=pinned
            )
    return await _measure(
        held, to_complete, hold=hold, url=None, connections=connections, profile=profile, pinned=pinned
    )


async def _measure(
    held: int,
    to_complete: int,
    *,
    hold: float,
    url: str | None,
    connections: int,
    profile: Path | None,
    pinned: bool,
) -> dict[str, Any]:
    service = Service(database_url=url)
    await service.start()
    own_cores = os.sched_getaffinity(0)
    if pinned:
        pinned = pin(service.pid, 1) and pin(0, 0)
    waiters: list[Waiter] = []
    try:
        orders = await new_orders(service.port, held)
        heard = FirstChanges()
        waiters = await open_waiters(service, split_kinds(orders), hold=hold, on_status=heard)
        await asyncio.sleep(2.0)  # let the ramp's last store reads and writes settle
        after_ramp = await service.metrics()
        held_on_server = int(after_ramp[WATCHES])
        chosen = pick_both_kinds(waiters, to_complete)
        cpu = cpu_seconds(service.pid)
        async with profiled(service.pid, profile):
            delivery = await complete(service.port, chosen, heard, connections=connections)
        cpu = cpu_seconds(service.pid) - cpu
        at_end = pauses(await service.metrics())
        # Full collections during the callbacks apart from the ramp's.
        stall, stall_cpu = longest_stall_without_gc(service)
        at_end["longest_stall_without_gc_ms"], at_end["that_stall_window_cpu_ms"] = stall, stall_cpu
        at_end["gen2_in_callbacks"] = at_end["gen2_collections"] - pauses(after_ramp)["gen2_collections"]
        received, sent = delivery.received, delivery.sent
        last = max((received[o] for o in sent if o in received), default=float("nan"))
        others = [w for w in waiters if w not in chosen or w.error]
        return {
            "held": held,
            "held_on_server": held_on_server,
            "pinned": pinned,
            "completed_by_kind": {kind: sum(1 for w in chosen if w.kind == kind) for kind in (SSE, WAIT)},
            **delivery.summary(others, service.log_errors()),
            "all_delivered_s": last - min(sent.values()),
            "latency_ms_by_kind": {kind: summary_ms(delivery.latencies(kind)) for kind in (SSE, WAIT)},
            "latencies_ms": sorted(x * 1000 for x in delivery.latencies()),
            "server_cpu_s": cpu,
            "rss_kb": service.rss_kb(),
            "pauses": at_end,
        }
    finally:
        close_all(waiters)
        await service.stop()
        os.sched_setaffinity(0, own_cores)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    def progress(result: dict[str, Any]) -> str:
        lat = result["latency_ms"]
        nan = float("nan")
        return f"p50 {lat.get('p50', nan):.1f} ms p99 {lat.get('p99', nan):.1f} ms errors={result['errors']}"

    profile = (args.out or RESULTS) / f"fanout-{args.store}.profile.txt" if args.profile else None
    largest = max(runner.sizes(args.held))

    def one(held: int) -> Awaitable[dict[str, Any]]:
        # Only the largest size, so the profile is of the load the targets are set for.
        return measure(
            held,
            min(args.complete, held),
            hold=args.hold,
            store=args.store,
            connections=args.connections,
            profile=profile if held == largest else None,
            pinned=args.pin,
        )

    results = await runner.each_size(args.held, args.repeat, one, progress)
    if profile is not None:
        print_summary(profile)
    return {"store": args.store, "hold_s": args.hold, "connections": args.connections, "results": results}


def pause_rows(results: list[dict[str, Any]]) -> list[list[Any]]:
    rows = []
    for r in results:
        p = r["pauses"]
        rows.append([r["held"], r["attempt"], p["longest_gc_ms"], p["longest_gc_cpu_ms"]])
        rows[-1] += [
            p["gen2_collections"],
            p["gen2_in_callbacks"],
            p["longest_loop_lag_ms"],
            p.get("longest_stall_without_gc_ms", float("nan")),
            p.get("that_stall_window_cpu_ms", float("nan")),
            p["frozen_objects"],
        ]
    return rows


def print_report(payload: dict[str, Any]) -> None:
    rows = []
    for r in payload["results"]:
        lat = r["latency_ms"]
        rows.append(
            [
                r["held"],
                r["attempt"],
                r["completed"],
                r["delivered"],
                r["errors"],
                r["callbacks_per_second"],
                lat.get("p50", float("nan")),
                lat.get("p90", float("nan")),
                lat.get("p99", float("nan")),
                lat.get("max", float("nan")),
                r["all_delivered_s"],
            ]
        )
    columns = ["held", "run", "completed", "delivered", "errors", "callbacks/s"]
    columns += ["p50 ms", "p90 ms", "p99 ms", "max ms", "all delivered s"]
    title = f"Fan-out: callback sent -> status received ({payload['store']}, {payload['connections']} sender)"
    print(table(title, columns, rows))
    kind_rows = []
    for r in payload["results"]:
        for kind, lat in r["latency_ms_by_kind"].items():
            nan = float("nan")
            count = r["completed_by_kind"][kind]
            kind_rows.append([r["held"], r["attempt"], kind, count, lat.get("p50", nan), lat.get("p99", nan)])
            kind_rows[-1].append(lat.get("max", nan))
    print(
        table(
            "Fan-out by waiter kind",
            ["held", "run", "kind", "completed", "p50 ms", "p99 ms", "max ms"],
            kind_rows,
        )
    )
    columns = [
        "held",
        "run",
        "longest GC ms",
        "longest GC CPU ms",
        "gen-2 GCs",
        "in callbacks",
        "longest lag ms",
    ]
    print(
        table(
            "Whole-process pauses, whole run (/metrics)",
            [*columns, "without GC ms", "its window's CPU ms", "frozen objects"],
            pause_rows(payload["results"]),
        )
    )


def cli(argv: list[str] | None = None) -> runner.Payload:
    parser = runner.parser("fanout", __doc__)
    parser.add_argument("--held", default="10000", help="waiters held, e.g. 10000 or 1000,5000,10000")
    parser.add_argument("--complete", type=int, default=1000, help="orders completed by callback")
    parser.add_argument("--hold", type=float, default=25.0, help="seconds each /wait asks to be held")
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--connections", type=int, default=1, help="callback sender connections")
    parser.add_argument("--repeat", type=int, default=1, help="runs per size (a fresh service each)")
    parser.add_argument("--profile", action="store_true", help="py-spy the callbacks at the largest size")
    runner.add_pin(parser, "service")
    return runner.cli("fanout", parser, main, print_report, argv)


if __name__ == "__main__":
    cli()
