"""Scenario 6, the peers side by side: this service, a naive peer and Nchan under one load.

    python -m bench.compare --waiters 10000 --messages 1000

Each server in turn (`--servers`): this service (the Procfile's command, one process, SQLite
and Redis), the naive peer (bench/peers/naive.py: Starlette, sse-starlette and
encode/broadcaster on Redis) and Nchan (nginx with its module; skipped with a note when
not installed). The same client holds `--waiters` on distinct orders, the SSE half first
and then the `/wait` half, and reads the server's RSS after each half settles, as
bench.idle_waiters does. Then `--messages` of the held orders, half SSE and half `/wait`,
are announced one after the other: by a bare publish on every server (a message and
nothing else: an HTTP publish to a peer, a Redis PUBLISH of a status document to this
service, which is what its subscriber hears after another process commits), the next
once the last was heard; and, on this service only, by the PayHero callback route too,
the whole path a payment takes, the next once the last was answered. For a callback,
"commit -> waiter" is the time from the change's `updated_at` (stamped when its
transaction began, millisecond resolution, wall clock) until its waiter had it. With
`--flood N`, N more held orders get bare publishes back to back, each sent once the
last was acknowledged (by Redis, for this service): deliveries a second.
With `--pin`, each server runs on core 1 and this client on core 0.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench import runner
from bench.delivery import Delivery, complete, publish_each
from bench.fanout import pick_both_kinds
from bench.peers import nchan
from bench.peers.targets import NaivePeer, Target, ThisService
from bench.report import summary_ms, table
from bench.scale_out import REDIS_URL
from bench.system import pin
from bench.waiters import SSE, WAIT, FirstChanges, Received, Waiter, close_all, errors, open_waiters

SERVERS = ("service", "naive", "nchan")
WAY_LABELS = {
    "publish": "bare publish -> waiter",
    "flood": "bare publishes back to back",
    "callback": "callback -> waiter",
}
WARM_UP = 100


class Heard(FirstChanges):
    """First changes, with the `updated_at` each carried (for commit -> waiter)."""

    def __init__(self) -> None:
        super().__init__()
        self.stamped: dict[str, str] = {}

    def __call__(self, waiter: Waiter, status: Received) -> None:
        super().__call__(waiter, status)
        if status.version > waiter.order.version and status.updated_at is not None:
            self.stamped.setdefault(waiter.order.order_id, status.updated_at)


def commit_to_waiter(delivery: Delivery, heard: Heard) -> list[float]:
    """Seconds from each change's `updated_at` until its waiter received it (wall clock)."""
    wall = time.time() - time.perf_counter()
    found = []
    for waiter in delivery.chosen:
        order_id = waiter.order.order_id
        if order_id in delivery.received and order_id in heard.stamped:
            stamp = datetime.fromisoformat(heard.stamped[order_id].replace("Z", "+00:00")).timestamp()
            found.append(delivery.received[order_id] + wall - stamp)
    return found


async def settle(target: Target, seconds: float) -> int:
    await asyncio.sleep(seconds)
    return target.rss_kb()


async def until_none_held(target: Target, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while await target.held() > 0:
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.1)
    return True


async def measure(target: Target, size: int, messages: int, args: argparse.Namespace) -> dict[str, Any]:
    orders = await target.prepare(size + WARM_UP)
    warm, orders = orders[:WARM_UP], orders[WARM_UP:]
    half = size // 2
    await target.start()
    own_cores = os.sched_getaffinity(0)
    pinned = args.pin and all([pin(pid, 1) for pid in target.pids()]) and pin(0, 0)
    waiters: list[Waiter] = []
    heard = Heard()

    async def hold(kind: str, some: list[Any], hold_s: float, **more: Any) -> list[Waiter]:
        plan = [(kind, o) for o in some]
        return await open_waiters(target, plan, hold=hold_s, batch=args.batch, count=target.held, **more)

    try:
        # Warm-up streams pay for lazy imports and first allocations, then leave.
        close_all(await hold(SSE, warm, 1.0))
        warm_left = not await until_none_held(target)
        rss_base = await settle(target, args.settle)
        waiters += await hold(SSE, orders[:half], args.hold, on_status=heard)
        rss_sse = await settle(target, args.settle)
        waiters += await hold(WAIT, orders[half:size], args.hold, on_status=heard)
        rss_all = await settle(target, args.settle)
        held_on_server = int(await target.held())

        flooded = pick_both_kinds(waiters, min(args.flood, size // 4))
        flood_ids = {id(w) for w in flooded}
        others = [w for w in waiters if id(w) not in flood_ids]
        chosen = pick_both_kinds(others, messages * (2 if target.has_callbacks else 1))
        by_callback, by_publish = (chosen[0::2], chosen[1::2]) if target.has_callbacks else ([], chosen)
        # Bare publishes first: each paid callback leaves e-mails for the composing process
        # to make, which would share the service's core with the publishes that follow.
        deliveries = {"publish": await publish_each(target.publish, by_publish, heard)}
        if flooded:
            deliveries["flood"] = await publish_each(target.publish, flooded, heard, paced=False)
        extra: dict[str, Any] = {}
        if by_callback:
            deliveries["callback"] = await complete(target.port, by_callback, heard, connections=1)
            extra["commit_to_waiter_ms"] = summary_ms(commit_to_waiter(deliveries["callback"], heard))
        log_errors = target.log_errors()
        failed = errors(waiters)
        n_wait = size - half
        return {
            "server": target.name,
            "size": size,
            "held_on_server": held_on_server,
            "pinned": pinned,
            "warm_up_left_held": warm_left,
            "errors": sum(failed.values()) + len(log_errors) + sum(_errors(d) for d in deliveries.values()),
            "error_kinds": dict(failed),
            "log_errors": log_errors[:10],
            "rss_base_kb": rss_base,
            "rss_all_kb": rss_all,
            "kb_per_waiter": (rss_all - rss_base) / size,
            "kb_per_sse": (rss_sse - rss_base) / half,
            "kb_per_wait": (rss_all - rss_sse) / n_wait,
            "ways": {way: _way(d) for way, d in deliveries.items()},
            **extra,
        }
    finally:
        close_all(waiters)
        await target.stop()
        os.sched_setaffinity(0, own_cores)


def _errors(delivery: Delivery) -> int:
    return len(delivery.missing) + len(delivery.callbacks.failures)


def _way(delivery: Delivery) -> dict[str, Any]:
    return {
        "messages": len(delivery.chosen),
        "delivered": len(delivery.chosen) - len(delivery.missing),
        "failures": delivery.callbacks.failures[:10],
        "latency_ms": summary_ms(delivery.latencies()),
        "latency_ms_by_kind": {kind: summary_ms(delivery.latencies(kind)) for kind in (SSE, WAIT)},
        "acknowledged_ms": summary_ms(delivery.callbacks.latencies),
        "delivered_per_second": delivery.per_second,
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    wanted = [s.strip() for s in args.servers.split(",") if s.strip()]
    unknown = set(wanted) - set(SERVERS)
    if unknown:
        raise SystemExit(f"unknown servers {sorted(unknown)}; choose from {', '.join(SERVERS)}")
    skipped: dict[str, str] = {}
    results = []
    messages = min(args.messages, args.waiters // 4)
    for name in wanted:
        reason = nchan.missing() if name == "nchan" else None
        if reason is not None:
            skipped[name] = reason
            print(f"  nchan skipped: {reason}", flush=True)
            continue
        data_dir = Path(tempfile.mkdtemp(prefix=f"payment-status-compare-{name}-"))
        target: Target
        if name == "service":
            target = ThisService(args.redis, hold=args.hold)
        elif name == "naive":
            target = NaivePeer(data_dir, args.redis)
        else:
            target = nchan.Nchan(data_dir)
        try:
            result = await measure(target, args.waiters, messages, args)
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)
        results.append(result)
        publish = result["ways"]["publish"]["latency_ms"]
        print(
            f"  {result['server']}: {result['kb_per_waiter']:.1f} KB/waiter, publish p50"
            f" {publish.get('p50', float('nan')):.2f} ms, errors={result['errors']}",
            flush=True,
        )
    return {
        "waiters": args.waiters,
        "messages": messages,
        "hold_s": args.hold,
        "results": results,
        "skipped": skipped,
    }


def _ratio(value: float, base: float | None) -> str:
    if base is None or not base or value != value:
        return "-"
    return f"{value / base:.2f}x"


def print_report(payload: dict[str, Any]) -> None:
    nan = float("nan")
    results = payload["results"]
    ours = next((r for r in results if r["server"] == ThisService.name), None)
    rows = []
    for r in results:
        rows.append(
            [
                r["server"],
                r["held_on_server"],
                r["errors"],
                r["rss_base_kb"] / 1024,
                r["rss_all_kb"] / 1024,
                r["kb_per_sse"],
                r["kb_per_wait"],
                r["kb_per_waiter"],
                _ratio(r["kb_per_waiter"], ours["kb_per_waiter"] if ours else None),
            ]
        )
    columns = ["server", "held", "errors", "RSS before MB", "RSS held MB", "KB/SSE", "KB/wait"]
    columns += ["KB/waiter", "x this service"]
    print(table(f"Idle waiters, {payload['waiters']:,} held, half SSE, half /wait", columns, rows))

    base = ours["ways"]["publish"]["latency_ms"] if ours else {}
    rows = []
    for r in results:
        for way, found in r["ways"].items():
            lat = found["latency_ms"]
            rows.append([r["server"], WAY_LABELS[way], found["messages"], found["delivered"]])
            rows[-1] += [lat.get("p50", nan), lat.get("p99", nan), lat.get("max", nan)]
            rows[-1] += [
                _ratio(lat.get("p50", nan), base.get("p50")),
                _ratio(lat.get("p99", nan), base.get("p99")),
                found["delivered_per_second"],
            ]
            if way == "callback" and "commit_to_waiter_ms" in r:
                lat = r["commit_to_waiter_ms"]
                rows.append([r["server"], "  of which commit -> waiter", lat.get("count", 0), "-"])
                rows[-1] += [lat.get("p50", nan), lat.get("p99", nan), lat.get("max", nan), "-", "-", "-"]
    columns = ["server", "path", "messages", "delivered", "p50 ms", "p99 ms", "max ms"]
    columns += ["p50 x ours", "p99 x ours", "delivered/s"]
    title = f"Fan-out with {payload['waiters']:,} held: sent -> received by the waiter (ratios: bare publish)"
    print()
    print(table(title, columns, rows))
    for name, reason in payload.get("skipped", {}).items():
        print(f"\n{name} skipped: {reason}")


def cli(argv: list[str] | None = None) -> runner.Payload:
    parser = runner.parser("compare", __doc__)
    parser.add_argument("--waiters", type=int, default=10_000, help="waiters held on each server")
    parser.add_argument(
        "--messages", type=int, default=1000, help="orders announced (at most a quarter held)"
    )
    parser.add_argument(
        "--flood",
        type=int,
        default=0,
        help="then this many more bare publishes back to back, not waiting for each to be heard",
    )
    parser.add_argument("--servers", default=",".join(SERVERS), help="which of service,naive,nchan")
    parser.add_argument("--redis", default=REDIS_URL, help="the Redis this service and the naive peer use")
    runner.add_holding(parser, hold=60.0)
    runner.add_pin(parser, "each server")
    return runner.cli("compare", parser, main, print_report, argv)


if __name__ == "__main__":
    cli()
