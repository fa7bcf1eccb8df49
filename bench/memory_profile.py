"""Where a held waiter's memory goes: tracemalloc inside the service, per allocation site.

    python -m bench.memory_profile --kind sse --count 2000
    python -m bench.memory_profile --kind wait --count 2000

The service runs as the Procfile runs it, except that this module wraps uvicorn's start to
turn tracemalloc on and to write a snapshot on SIGUSR1. A snapshot is taken with no waiter
and again with `--count` held; the difference, divided by the count, is printed by source
line, and so is the growth of the objects the garbage collector tracks, by type: what a full
collection must walk for each waiter (issue 13 item 5). tracemalloc sees Python's
allocations only: RSS per waiter minus this is what C code (uvloop, httptools, the
allocator's overhead) holds. Slower than the real thing: a profile,
not a benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import pickle
import signal
import sys
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

from bench import runner
from bench.report import table
from bench.seed import seed_orders
from bench.service import Service
from bench.system import REPO
from bench.waiters import SSE, WAIT, close_all, open_waiters

SNAPSHOT_ENV = "BENCH_TRACEMALLOC_SNAPSHOT"


def serve() -> None:
    """The service side: uvicorn's own command line, with tracemalloc and a snapshot signal."""
    tracemalloc.start(int(os.environ.get("BENCH_TRACEMALLOC_FRAMES", "12")))
    import uvicorn.server

    from server import launcher

    original = uvicorn.server.Server.startup

    async def startup(self: Any, sockets: Any = None) -> None:
        def dump() -> None:
            path = Path(os.environ[SNAPSHOT_ENV])
            snapshot = tracemalloc.take_snapshot().filter_traces(
                [tracemalloc.Filter(False, tracemalloc.__file__)]
            )
            partial = path.with_suffix(".part")
            tracked = Counter(type(o).__qualname__ for o in gc.get_objects())
            partial.write_bytes(pickle.dumps((snapshot, tracked)))
            partial.rename(path)

        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, dump)
        await original(self, sockets)

    uvicorn.server.Server.startup = startup  # type: ignore[method-assign]
    sys.exit(launcher.main(sys.argv[2:]))


Tracked = Counter[str]


def _read_snapshot(path: Path) -> tuple[tracemalloc.Snapshot, Tracked] | None:
    if not path.exists():
        return None
    loaded: tuple[tracemalloc.Snapshot, Tracked] = pickle.loads(path.read_bytes())
    path.unlink()
    return loaded


async def snapshot(service: Service, path: Path) -> tuple[tracemalloc.Snapshot, Tracked]:
    os.kill(service.pid, signal.SIGUSR1)
    deadline = time.monotonic() + 120
    while (found := _read_snapshot(path)) is None:
        if time.monotonic() > deadline:
            raise TimeoutError("no snapshot from the service")
        await asyncio.sleep(0.2)
    return found


async def main(args: argparse.Namespace) -> dict[str, Any]:
    service = Service(env={"LOG_LEVEL": "WARNING"})
    path = service.data_dir / "tracemalloc.snapshot"
    service.env[SNAPSHOT_ENV] = str(path)
    orders = await seed_orders(service.database_url, args.count + 100)
    # The Procfile's arguments, run through this module so tracemalloc is on from the start.
    service.command_prefix = f"{sys.executable} -m bench.memory_profile --serve"
    # `bench` from here; `server` from the service's own directory, which comes first.
    service.env["PYTHONPATH"] = str(REPO)
    await service.start()
    try:
        kind = SSE if args.kind == "sse" else WAIT
        close_all(await open_waiters(service, [(kind, o) for o in orders[:100]], hold=1.0))
        await asyncio.sleep(2.0)
        before, tracked_before = await snapshot(service, path)
        rss_before = service.rss_kb()
        waiters = await open_waiters(service, [(kind, o) for o in orders[100:]], hold=300.0)
        await asyncio.sleep(2.0)
        after, tracked_after = await snapshot(service, path)
        rss_after = service.rss_kb()
        close_all(waiters)
    finally:
        await service.stop()
    stats = after.compare_to(before, "lineno")
    rows = [
        {"site": str(stat.traceback[0]), "bytes_per_waiter": stat.size_diff / args.count}
        for stat in stats[: args.top]
    ]
    traced = sum(stat.size_diff for stat in stats) / args.count
    by_file = [
        {"file": str(stat.traceback[0].filename), "bytes_per_waiter": stat.size_diff / args.count}
        for stat in after.compare_to(before, "filename")[: args.top]
    ]
    grown = Counter(tracked_after)
    grown.subtract(tracked_before)
    return {
        "kind": args.kind,
        "tracked_objects_per_waiter": grown.total() / args.count,
        "tracked_types": [
            {"type": name, "per_waiter": n / args.count} for name, n in grown.most_common(args.top)
        ],
        "count": args.count,
        "traced_bytes_per_waiter": traced,
        "rss_bytes_per_waiter": (rss_after - rss_before) * 1024 / args.count,
        "sites": rows,
        "files": by_file,
    }


def _short(path: str) -> str:
    for marker in ("site-packages/", "python3.11/", "wt-bench/", "/server/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def print_report(payload: dict[str, Any]) -> None:
    rows = [[_short(r["site"]), r["bytes_per_waiter"]] for r in payload["sites"]]
    title = f"Python allocations per held {payload['kind']} ({payload['count']} held)"
    print(table(title + ", by line", ["site", "B"], rows))
    files = [[_short(r["file"]), r["bytes_per_waiter"]] for r in payload["files"]]
    print("\n" + table(title + ", by file", ["file", "B"], files))
    kinds = [[r["type"], r["per_waiter"]] for r in payload["tracked_types"]]
    print("\n" + table(title + ": objects the GC tracks, by type", ["type", "per waiter"], kinds))
    print(f"\nGC-tracked objects: {payload['tracked_objects_per_waiter']:,.1f} per waiter")
    print(
        f"\ntraced by tracemalloc: {payload['traced_bytes_per_waiter']:,.0f} B per waiter;"
        f" RSS (with tracemalloc's own overhead): {payload['rss_bytes_per_waiter']:,.0f} B"
    )


def cli(argv: list[str] | None = None) -> runner.Payload:
    parser = runner.parser("memory_profile", __doc__)
    parser.add_argument("--kind", choices=["sse", "wait"], default="sse")
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--top", type=int, default=25)
    return runner.cli("memory_profile", parser, main, print_report, argv)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve()
    else:
        cli()
