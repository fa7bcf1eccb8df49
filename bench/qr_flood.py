"""QR flood: does a crowd fetching one ticket's QR image starve the fan-out?

    python -m bench.qr_flood --held 2000 --complete 300 --flood 50

A fresh service (the Procfile's command) gets one paid order, whose ticket's PNG is the
flood's target, and `--held` waiters (half SSE, half `/wait`), all held at once. Then
`--complete` of them are completed through the callback route with nothing else going on
(quiet), and `--complete` more while `--flood` clients fetch that PNG back to back, each
on its own keep-alive connection, without If-None-Match (a crowd reloading, or an
attacker). Latency: callback sent -> status received by its waiter, as in bench.fanout.
Issue 15 measured p50 7 ms quiet and 585 ms flooded when every request drew the image.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter
from typing import Any

from bench import runner
from bench.delivery import Delivery, complete
from bench.http import Connection, HttpError
from bench.orders import new_orders, send_callbacks
from bench.report import table
from bench.service import HOST, Service
from bench.waiters import FirstChanges, Waiter, close_all, open_waiters, split_kinds


async def paid_ticket_url(port: int) -> str:
    """The QR URL of the ticket of one order paid through the callback route."""
    (order,) = await new_orders(port, 1)
    paid = await send_callbacks(port, [order])
    if paid.failures:
        raise RuntimeError(f"the flood's order was not paid: {paid.failures}")
    connection = await Connection.open(HOST, port)
    try:
        response = await connection.request("GET", f"/api/orders/{order.order_id}")
    finally:
        connection.close()
    url: str = json.loads(response.body)["tickets"][0]["qr_url"]
    return url


class Flood:
    """`clients` connections fetching `path` back to back until stopped."""

    def __init__(self, port: int, path: str, clients: int) -> None:
        self.port, self.path, self.clients = port, path, clients
        self.statuses: Counter[int] = Counter()
        self.failures: list[str] = []
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.started = self.stopped = 0.0

    async def _client(self) -> None:
        connection = await Connection.open(HOST, self.port)
        try:
            while not self._stop.is_set():
                response = await connection.request("GET", self.path)
                self.statuses[response.status] += 1
        except (HttpError, OSError, TimeoutError) as exc:
            self.failures.append(repr(exc))
        finally:
            connection.close()

    def start(self) -> None:
        self.started = time.perf_counter()
        self._tasks = [asyncio.create_task(self._client()) for _ in range(self.clients)]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)
        self.stopped = time.perf_counter()

    def summary(self) -> dict[str, Any]:
        total = sum(self.statuses.values())
        seconds = self.stopped - self.started
        return {
            "requests": total,
            "per_second": total / seconds if seconds else 0.0,
            "statuses": {str(k): v for k, v in self.statuses.items()},
            "failures": self.failures[:5],
        }


async def measure(held: int, to_complete: int, *, flood_clients: int, hold: float) -> dict[str, Any]:
    service = Service()
    await service.start()
    waiters: list[Waiter] = []
    try:
        qr_url = await paid_ticket_url(service.port)
        orders = await new_orders(service.port, held)
        heard = FirstChanges()
        waiters = await open_waiters(service, split_kinds(orders), hold=hold, on_status=heard)
        await asyncio.sleep(2.0)  # let the ramp's last store reads and writes settle
        # Both phases get SSE and /wait alike (split_kinds alternates them).
        chosen = waiters[: 2 * to_complete]
        quiet_set = chosen[0::4] + chosen[1::4]
        flooded_set = chosen[2::4] + chosen[3::4]
        quiet = await complete(service.port, quiet_set, heard, connections=1)
        flood = Flood(service.port, qr_url, flood_clients)
        flood.start()
        await asyncio.sleep(1.0)  # the flood at full speed before the first callback
        flooded = await complete(service.port, flooded_set, heard, connections=1)
        await flood.stop()
        others = [w for w in waiters if w.error]
        log_errors = service.log_errors()
        return {
            "held": held,
            "flood_clients": flood_clients,
            "quiet": _phase(quiet, others, log_errors),
            "flooded": _phase(flooded, others, log_errors),
            "flood": flood.summary(),
        }
    finally:
        close_all(waiters)
        await service.stop()


def _phase(delivery: Delivery, others: list[Waiter], log_errors: list[str]) -> dict[str, Any]:
    summary = delivery.summary(others, log_errors)
    return {key: summary[key] for key in ("completed", "delivered", "errors", "latency_ms", "missing")}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    results = []
    for attempt in range(1, args.repeat + 1):
        result = await measure(args.held, args.complete, flood_clients=args.flood, hold=args.hold)
        result["attempt"] = attempt
        quiet, flooded = result["quiet"]["latency_ms"], result["flooded"]["latency_ms"]
        print(f"  run {attempt}: p50 quiet {quiet.get('p50'):.1f} ms, flooded {flooded.get('p50'):.1f} ms")
        results.append(result)
    return {"held": args.held, "complete": args.complete, "results": results}


def print_report(payload: dict[str, Any]) -> None:
    rows = []
    nan = float("nan")
    for r in payload["results"]:
        for phase in ("quiet", "flooded"):
            lat = r[phase]["latency_ms"]
            flood: dict[str, Any] = r["flood"] if phase == "flooded" else {"per_second": 0.0, "statuses": {}}
            rows.append(
                [
                    r["held"],
                    r["attempt"],
                    phase,
                    r[phase]["delivered"],
                    r[phase]["errors"],
                    lat.get("p50", nan),
                    lat.get("p90", nan),
                    lat.get("p99", nan),
                    flood["per_second"],
                    ",".join(f"{k}:{v}" for k, v in flood["statuses"].items()) or "-",
                ]
            )
    columns = ["held", "run", "phase", "delivered", "errors", "p50 ms", "p90 ms", "p99 ms"]
    columns += ["QR req/s", "QR statuses"]
    print(table("QR flood: callback sent -> status received, quiet and under a QR flood", columns, rows))


def cli(argv: list[str] | None = None) -> runner.Payload:
    parser = runner.parser("qr_flood", __doc__)
    parser.add_argument("--held", type=int, default=2000, help="waiters held")
    parser.add_argument("--complete", type=int, default=300, help="orders completed in each phase")
    parser.add_argument("--flood", type=int, default=50, help="clients fetching the QR image")
    parser.add_argument("--hold", type=float, default=25.0, help="seconds each /wait asks to be held")
    parser.add_argument("--repeat", type=int, default=1, help="runs (a fresh service each)")
    return runner.cli("qr_flood", parser, main, print_report, argv)


if __name__ == "__main__":
    cli()
