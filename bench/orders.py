"""Orders and callbacks through the service's real routes, as a browser and PayHero send them.

`POST /api/orders` in sandbox mode with a phone ending in 9999: the sandbox accepts the
STK push and its customer never answers, so the bench itself plays PayHero and POSTs the
callback to `/api/payhero/callback/{CALLBACK_TOKEN}` when the scenario wants the answer.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from bench.http import Connection
from bench.service import CALLBACK_TOKEN, HOST

EVENT, TICKET_TYPE, PRICE = "demo-fest", "early-bird", 300
# The sandbox customer with this phone never answers (API.md): the bench answers instead.
SILENT_PHONE = "0712349999"

RESULTS = {
    "success": (0, "The service request is processed successfully."),
    "cancelled": (1032, "Request cancelled by user"),
    "insufficient": (1, "The balance is insufficient for the transaction."),
}


@dataclass(frozen=True)
class Order:
    order_id: str
    order_number: str
    version: int = 2

    @property
    def checkout_request_id(self) -> str:
        # What the sandbox's push answers (API.md, "Sandbox mode").
        return f"ws_CO_SANDBOX_{self.order_number}"


def checkout_body(n: int, phone: str = SILENT_PHONE) -> bytes:
    return json.dumps(
        {
            "event": EVENT,
            "ticket_type": TICKET_TYPE,
            "quantity": 1,
            "email": f"bench{n}@example.com",
            "first_name": "Bench",
            "last_name": "Customer",
            "phone": phone,
            # Bench buyers share a phone on purpose; a repeat purchase is what they mean.
            "confirm_repeat": True,
        }
    ).encode()


def callback_body(order: Order, result: str = "success", amount: int = PRICE) -> bytes:
    """A PayHero callback shaped like tests/payhero_samples/success.json."""
    code, description = RESULTS[result]
    paid = code == 0
    receipt = "S" + secrets.token_hex(5).upper()[:9] if paid else ""
    return json.dumps(
        {
            "forward_url": "",
            "response": {
                "Amount": amount,
                "CheckoutRequestID": order.checkout_request_id,
                "ExternalReference": order.order_number,
                "MerchantRequestID": "bench-1",
                "MpesaReceiptNumber": receipt,
                "Phone": "+254712349999",
                "ResultCode": code,
                "ResultDesc": description,
                "Status": "Success" if paid else "Failed",
            },
            "status": paid,
        }
    ).encode()


CALLBACK_PATH = f"/api/payhero/callback/{CALLBACK_TOKEN}"
JSON = {"Content-Type": "application/json"}


@dataclass
class Tally:
    """What a run of requests did: answers by status, latencies, failures."""

    statuses: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    started: float = 0.0
    finished: float = 0.0

    @property
    def seconds(self) -> float:
        return self.finished - self.started

    def count(self, status: int) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1


async def create_orders(
    port: int, count: int, *, connections: int = 8, first: int = 0
) -> tuple[list[Order], Tally]:
    """`count` orders through `POST /api/orders`, over `connections` keep-alive connections."""
    tally = Tally(started=time.perf_counter())
    orders: list[Order] = []
    numbers = iter(range(first, first + count))

    async def worker() -> None:
        connection = await Connection.open(HOST, port)
        try:
            for n in numbers:
                sent = time.perf_counter()
                response = await connection.request(
                    "POST", "/api/orders", body=checkout_body(n), headers=JSON
                )
                tally.latencies.append(response.received_at - sent)
                tally.count(response.status)
                if response.status != 201:
                    tally.failures.append(f"{response.status} {response.body[:200]!r}")
                    continue
                document = json.loads(response.body)
                orders.append(Order(document["order_id"], document["order_number"], int(document["version"])))
        finally:
            connection.close()

    await asyncio.gather(*(worker() for _ in range(min(connections, count) or 1)))
    tally.finished = time.perf_counter()
    return orders, tally


async def send_callbacks(
    port: int,
    orders: Iterable[Order],
    *,
    connections: int = 1,
    result: str = "success",
    sent_at: dict[str, float] | None = None,
) -> Tally:
    """One callback per order, back to back on each connection; `sent_at` gets send times."""
    tally = Tally(started=time.perf_counter())
    queue = iter(list(orders))

    async def worker() -> None:
        connection = await Connection.open(HOST, port)
        try:
            for order in queue:
                body = callback_body(order, result)
                sent = time.perf_counter()
                if sent_at is not None:
                    sent_at[order.order_id] = sent
                response = await connection.request("POST", CALLBACK_PATH, body=body, headers=JSON)
                tally.latencies.append(response.received_at - sent)
                tally.count(response.status)
                answer = json.loads(response.body) if response.status == 200 else {}
                if response.status != 200 or "ignored" in answer or "review" in answer:
                    tally.failures.append(f"{response.status} {response.body[:200]!r}")
        finally:
            connection.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    tally.finished = time.perf_counter()
    return tally


async def new_orders(port: int, count: int) -> list[Order]:
    """`count` orders through the real route; any refusal stops the scenario."""
    orders, tally = await create_orders(port, count, connections=16)
    if tally.failures:
        raise RuntimeError(f"order creation failed: {tally.failures[:3]}")
    return orders
