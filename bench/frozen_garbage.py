"""Does memory come back once waiters finish, with long-lived objects frozen out of the GC?

    python -m bench.frozen_garbage --held 3000 --complete 500

The service settles what it holds long out of the collector's walk (`gc.freeze()`,
server/ops/pauses.py). A frozen object is still freed when its last reference goes; what
would leak is a frozen object that dies in a reference cycle, which no collection finds
until everything is unfrozen. This holds `--held` waiters (half SSE, half `/wait`),
completes `--complete` of them through the callback route, closes every one, then asks the
service for one full collection of everything, frozen or not, keeping what it finds
(`gc.DEBUG_SAVEALL`): that is the frozen garbage, printed by type. Beside it, the frozen
count at each step: it should come back to about the start-up figure once all are gone.
The service runs as the Procfile runs it, wrapped so that SIGUSR1 takes that count.
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
from collections import Counter
from pathlib import Path
from typing import Any

from bench import runner
from bench.delivery import complete
from bench.fanout import pick_both_kinds
from bench.metrics import FROZEN
from bench.orders import new_orders
from bench.report import table
from bench.service import Service
from bench.system import REPO
from bench.waiters import FirstChanges, Waiter, close_all, open_waiters, split_kinds

OUT_ENV = "BENCH_FROZEN_GARBAGE"


def serve() -> None:
    """The service side: uvicorn's own command line, and a full count on SIGUSR1."""
    import uvicorn.server

    from server import launcher

    original = uvicorn.server.Server.startup

    async def startup(self: Any, sockets: Any = None) -> None:
        def count_garbage() -> None:
            enabled = gc.isenabled()
            gc.disable()
            frozen = gc.get_freeze_count()
            gc.set_debug(gc.DEBUG_SAVEALL)
            gc.unfreeze()
            found = gc.collect()
            by_type = Counter(type(o).__qualname__ for o in gc.garbage)
            gc.garbage.clear()
            gc.set_debug(0)
            gc.freeze()
            if enabled:
                gc.enable()
            path = Path(os.environ[OUT_ENV])
            partial = path.with_suffix(".part")
            partial.write_bytes(pickle.dumps((frozen, found, by_type)))
            partial.rename(path)

        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, count_garbage)
        await original(self, sockets)

    uvicorn.server.Server.startup = startup  # type: ignore[method-assign]
    sys.exit(launcher.main(sys.argv[2:]))


Count = tuple[int, int, Counter[str]]


def _read_count(path: Path) -> Count | None:
    if not path.exists():
        return None
    found: Count = pickle.loads(path.read_bytes())
    path.unlink()
    return found


async def count_garbage(service: Service, path: Path) -> Count:
    os.kill(service.pid, signal.SIGUSR1)
    deadline = time.monotonic() + 60
    while (found := _read_count(path)) is None:
        if time.monotonic() > deadline:
            raise TimeoutError("no garbage count from the service")
        await asyncio.sleep(0.1)
    return found


async def main(args: argparse.Namespace) -> dict[str, Any]:
    service = Service(env={"LOG_LEVEL": "WARNING"})
    path = service.data_dir / "frozen-garbage.pickle"
    service.env[OUT_ENV] = str(path)
    service.command_prefix = f"{sys.executable} -m bench.frozen_garbage --serve"
    service.env["PYTHONPATH"] = str(REPO)
    await service.start()
    waiters: list[Waiter] = []
    frozen: dict[str, float] = {}
    try:
        frozen["start-up"] = (await service.metrics())[FROZEN]
        orders = await new_orders(service.port, args.held)
        heard = FirstChanges()
        waiters = await open_waiters(service, split_kinds(orders), hold=300.0, on_status=heard)
        await asyncio.sleep(2.0)  # the ramp's last collections, and settling
        frozen["all held"] = (await service.metrics())[FROZEN]
        delivery = await complete(service.port, pick_both_kinds(waiters, args.complete), heard, connections=1)
        frozen["after the callbacks"] = (await service.metrics())[FROZEN]
        close_all(waiters)
        await asyncio.sleep(3.0)
        frozen["all closed"] = (await service.metrics())[FROZEN]
        _, found, by_type = await count_garbage(service, path)
    finally:
        close_all(waiters)
        await service.stop()
    return {
        "held": args.held,
        "completed": args.complete,
        "delivered": len(delivery.latencies()),
        "errors": sum(1 for w in waiters if w.error),
        "frozen_objects": frozen,
        "frozen_garbage": found,
        "frozen_garbage_by_type": dict(by_type.most_common(args.top)),
    }


def print_report(payload: dict[str, Any]) -> None:
    steps = [[step, count] for step, count in payload["frozen_objects"].items()]
    title = f"Frozen objects ({payload['held']:,} held, {payload['completed']:,} completed)"
    print(table(title, ["step", "frozen"], steps))
    kinds = [[name, n] for name, n in payload["frozen_garbage_by_type"].items()]
    print("\n" + table("Frozen garbage once all are closed, by type", ["type", "objects"], kinds))
    print(f"\nfrozen garbage: {payload['frozen_garbage']:,} objects in all")


def cli(argv: list[str] | None = None) -> runner.Payload:
    parser = runner.parser("frozen_garbage", __doc__)
    parser.add_argument("--held", type=int, default=3000)
    parser.add_argument("--complete", type=int, default=500)
    parser.add_argument("--top", type=int, default=20)
    return runner.cli("frozen_garbage", parser, main, print_report, argv)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve()
    else:
        cli()
