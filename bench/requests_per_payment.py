"""Scenario 4, requests per payment: polling every 5 s, /wait (4 attempts) and SSE, side by side.

    python -m bench.requests_per_payment --scale 0.1 --per-case 10

Time runs `--scale` times real time so the whole scenario takes well under a minute at 0.1:
every interval below is multiplied by it (the service's too: SAFETY_NET_INTERVAL,
PAYMENT_EXPIRY, EXPIRY_CHECK_INTERVAL), and the figures are counts, which scaling does
not change. For each outcome, `--per-case` orders per way of waiting are created through
`POST /api/orders` at the same moment and answered through the real callback route:

- paid after 10, 20, 40 or 60 s; cancelled (ResultCode 1032) after 10 s; or never answered,
  in which case the service's expiry pass ends the order at PAYMENT_EXPIRY (180 s).

The three ways of waiting, as the old page and the new one behave:

- poll: `GET /api/orders/{id}` 5 s after the order, then every 5 s, until a final status;
- wait: `/wait?since=<version>&timeout=25`; on a timeout, 5 s pause and again; at most 4
  attempts (DESIGN.md), then "still waiting" (it stops asking);
- sse: one `/events` stream until the final status.

Counted on the client per payment, and on the service by route (`/metrics`' HTTP requests)
and in store reads of one order (`store_single_reads`), per way of waiting in total.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from bench import runner
from bench.http import Connection
from bench.metrics import SINGLE_READS, delta, requests_total
from bench.orders import CALLBACK_PATH, JSON, Order, callback_body, new_orders
from bench.report import table
from bench.service import HOST, Service
from bench.sse import SSEParser

TERMINAL = frozenset({"completed", "failed", "cancelled", "expired"})
# Real seconds, before scaling.
POLL_EVERY, HOLD, PAUSE, ATTEMPTS = 5.0, 25.0, 5.0, 4
PAYMENT_EXPIRY, EXPIRY_CHECK, SAFETY_NET, PROMPT_WINDOW = 180.0, 15.0, 5.0, 60.0
# outcome -> (result of the callback, seconds after the order), None: never answered.
OUTCOMES: dict[str, tuple[str, float] | None] = {
    "paid at 10 s": ("success", 10.0),
    "paid at 20 s": ("success", 20.0),
    "paid at 40 s": ("success", 40.0),
    "paid at 60 s": ("success", 60.0),
    "cancelled at 10 s": ("cancelled", 10.0),
    "no answer": None,
}
POLICIES = ("poll", "wait", "sse")
ROUTES = {
    "poll": "/api/orders/{order_id}",
    "wait": "/api/orders/{order_id}/wait",
    "sse": "/api/orders/{order_id}/events",
}


@dataclass
class Payment:
    policy: str
    outcome: str
    order: Order
    requests: int = 0
    final: str | None = None
    learned_at: float | None = None  # seconds after the order, as measured in the scaled run
    error: str | None = None
    notes: list[str] = field(default_factory=list)


async def poll(payment: Payment, port: int, scale: float, started: float) -> None:
    connection = await Connection.open(HOST, port)
    try:
        tick = 1
        while True:
            await asyncio.sleep(max(0.0, started + tick * POLL_EVERY * scale - time.perf_counter()))
            tick += 1
            payment.requests += 1
            response = await connection.request("GET", f"/api/orders/{payment.order.order_id}")
            if response.status != 200:
                payment.error = f"poll: HTTP {response.status}"
                return
            status = json.loads(response.body)["payment_status"]
            if status in TERMINAL:
                payment.final = status
                payment.learned_at = response.received_at - started
                return
    finally:
        connection.close()


async def long_poll(payment: Payment, port: int, scale: float, started: float) -> None:
    connection = await Connection.open(HOST, port)
    since = payment.order.version
    try:
        for attempt in range(ATTEMPTS):
            if attempt:
                await asyncio.sleep(PAUSE * scale)
            payment.requests += 1
            path = f"/api/orders/{payment.order.order_id}/wait?since={since}&timeout={HOLD * scale:g}"
            response = await connection.request("GET", path, timeout=HOLD * scale + 30)
            if response.status != 200:
                payment.error = f"wait: HTTP {response.status}"
                return
            document = json.loads(response.body)
            if document["payment_status"] in TERMINAL:
                payment.final = document["payment_status"]
                payment.learned_at = response.received_at - started
                return
            since = int(document["version"])
        payment.notes.append("still waiting after 4 attempts")
    finally:
        connection.close()


async def stream(payment: Payment, port: int, scale: float, started: float) -> None:
    connection = await Connection.open(HOST, port)
    parser = SSEParser()

    def sink(chunk: bytes, at: float) -> None:
        for event in parser.feed(chunk):
            if event.event == "status":
                status = json.loads(event.data)["payment_status"]
                if status in TERMINAL and payment.final is None:
                    payment.final = status
                    payment.learned_at = at - started

    try:
        payment.requests += 1
        path = f"/api/orders/{payment.order.order_id}/events"
        response = await connection.send("GET", path, headers={"Accept": "text/event-stream"}, sink=sink)
        if response.status != 200:
            payment.error = f"sse: HTTP {response.status}"
    finally:
        connection.close()


WAYS = {"poll": poll, "wait": long_poll, "sse": stream}


async def answer(port: int, payment: Payment, scale: float, started: float) -> None:
    plan = OUTCOMES[payment.outcome]
    if plan is None:
        return  # the expiry pass will end it
    result, after = plan
    await asyncio.sleep(max(0.0, started + after * scale - time.perf_counter()))
    connection = await Connection.open(HOST, port)
    try:
        response = await connection.request(
            "POST", CALLBACK_PATH, body=callback_body(payment.order, result), headers=JSON
        )
        answer = json.loads(response.body) if response.status == 200 else {}
        if response.status != 200 or "ignored" in answer or "review" in answer:
            payment.error = f"callback: {response.status} {response.body[:100]!r}"
    finally:
        connection.close()


async def main(args: argparse.Namespace) -> dict[str, Any]:
    scale = args.scale
    env = {
        "PAYMENT_EXPIRY": f"{PAYMENT_EXPIRY * scale:g}",
        "PROMPT_WINDOW": f"{PROMPT_WINDOW * scale:g}",
        # The sandbox answers in-process; the service only wants the expiry to cover it.
        "PAYHERO_TIMEOUT": f"{min(15.0, (PAYMENT_EXPIRY - PROMPT_WINDOW) * scale):g}",
        "EXPIRY_CHECK_INTERVAL": f"{EXPIRY_CHECK * scale:g}",
        "SAFETY_NET_INTERVAL": f"{SAFETY_NET * scale:g}",
        "WAIT_TIMEOUT_MAX": f"{max(HOLD * scale, 1.0):g}",
        "WAIT_TIMEOUT": f"{HOLD * scale:g}",
    }
    service = Service(env=env)
    await service.start()
    try:
        count = len(POLICIES) * len(OUTCOMES) * args.per_case
        orders = await new_orders(service.port, count)
        payments = [
            Payment(policy, outcome, orders.pop())
            for policy in POLICIES
            for outcome in OUTCOMES
            for _ in range(args.per_case)
        ]
        before = await service.metrics()
        started = time.perf_counter()
        tasks = [WAYS[p.policy](p, service.port, scale, started) for p in payments]
        tasks += [answer(service.port, p, scale, started) for p in payments]
        await asyncio.wait_for(
            asyncio.gather(*tasks), timeout=(PAYMENT_EXPIRY + 2 * EXPIRY_CHECK) * scale + 60
        )
        elapsed = time.perf_counter() - started
        after = await service.metrics()
        log_errors = service.log_errors()
    finally:
        await service.stop()
    used = delta(after, before)
    server = {
        policy: {"requests": requests_total(used, ROUTES[policy], "GET"), "client_requests": 0}
        for policy in POLICIES
    }
    for p in payments:
        server[p.policy]["client_requests"] += p.requests
    reads = used.get(SINGLE_READS, 0.0)
    rows: dict[str, dict[str, Any]] = defaultdict(dict)
    for (policy, outcome), group in _grouped(payments).items():
        learned = [p.learned_at for p in group if p.learned_at is not None]
        plan = OUTCOMES[outcome]
        rows[outcome][policy] = {
            "requests_per_payment": sum(p.requests for p in group) / len(group),
            "final": dict(Counter(p.final or "still waiting" for p in group)),
            # After the answer was sent, in the scaled run: polling's delay is its interval
            # (so x1/scale in real time), the others' is the service's processing time.
            "late_by_ms": (sum(learned) / len(learned) - plan[1] * scale) * 1000
            if learned and plan
            else None,
        }
    failures = [f"{p.policy}/{p.outcome}: {p.error}" for p in payments if p.error]
    return {
        "scale": scale,
        "per_case": args.per_case,
        "elapsed_s": elapsed,
        "payments": len(payments),
        "errors": len(failures) + len(log_errors),
        "failures": failures[:20],
        "log_errors": log_errors[:10],
        "by_outcome": rows,
        "server": server,
        "store_single_reads": reads,
        "server_requests_total": sum(v["requests"] for v in server.values()),
    }


def _grouped(payments: list[Payment]) -> dict[tuple[str, str], list[Payment]]:
    groups: dict[tuple[str, str], list[Payment]] = defaultdict(list)
    for p in payments:
        groups[(p.policy, p.outcome)].append(p)
    return groups


def print_report(payload: dict[str, Any]) -> None:
    rows = []
    for outcome, by_policy in payload["by_outcome"].items():
        row: list[Any] = [outcome]
        for policy in POLICIES:
            cell = by_policy[policy]
            row.append(cell["requests_per_payment"])
        for policy in POLICIES:
            late = by_policy[policy]["late_by_ms"]
            final = by_policy[policy]["final"]
            row.append("-" if late is None else f"{late:.0f} ms")
            if policy == "wait" and "still waiting" in final:
                row[-1] = f"still waiting ({final['still waiting']})"
        rows.append(row)
    columns = ["payment", "poll req", "wait req", "sse req", "poll learns", "wait learns", "sse learns"]
    scale = payload["scale"]
    title = f"Requests per payment (time x{scale:g}; 'learns': how long after the answer, in the scaled run)"
    print(table(title, columns, rows))
    server = payload["server"]
    totals = [[p, server[p]["client_requests"], server[p]["requests"]] for p in POLICIES]
    print()
    print(
        table(
            "Requests counted by the client and by the service (/metrics)",
            ["way", "client", "service"],
            totals,
        )
    )
    print(
        f"\nstore reads of one order during the run: {payload['store_single_reads']:.0f} "
        f"for {payload['server_requests_total']:.0f} status requests; errors: {payload['errors']}"
    )


def cli(argv: list[str] | None = None) -> runner.Payload:
    parser = runner.parser("requests_per_payment", __doc__)
    parser.add_argument("--scale", type=float, default=0.1, help="time factor: 0.1 runs ten times faster")
    parser.add_argument("--per-case", type=int, default=10, help="payments per outcome and way of waiting")
    return runner.cli("requests_per_payment", parser, main, print_report, argv)


if __name__ == "__main__":
    cli()
