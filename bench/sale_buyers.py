"""The flash sale's buyers: each reads the catalogue, checks out, and watches the status page.

A buyer arrives at their planned moment, reads `GET /api/events`, and places one order
(`POST /api/orders`). Sold out (a 422 on `quantity`), they look at the catalogue again a
few times and try once more whenever a seat is back. With an order, they hold the status
page's own transport (bench.waiters: an SSE stream or `/wait` long polls), or, in
`--poll` mode, ask `GET /api/orders/{id}` every few seconds as the replaced system's page
did. When the prompt's window passes with no answer, the page offers to send it again, and
the buyer does (`POST /api/orders/{id}/push`), once.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from bench.http import Connection, HttpError, NothingReceived, Response
from bench.orders import JSON, Order
from bench.sale_plan import BuyerPlan, Timing
from bench.service import HOST
from bench.waiters import TERMINAL, Received, Waiter

EVENT, TICKET_TYPE = "flash-sale", "general"


@dataclass
class Buyer:
    plan: BuyerPlan
    order_id: str | None = None
    order_number: str | None = None
    version: int = 0
    checkout_status: int = 0
    # From sending the checkout that placed the order to its answer, seconds.
    checkout_seconds: float | None = None
    sold_out_answers: list[float] = field(default_factory=list)
    sold_out: bool = False
    pushes_sent_again: int = 0
    latest: str | None = None
    final: str | None = None
    final_at: float | None = None
    requests: int = 0
    errors: list[str] = field(default_factory=list)
    waiter: Waiter | None = None

    def saw(self, status: str, at: float) -> None:
        self.latest = status
        if status in TERMINAL and self.final is None:
            self.final, self.final_at = status, at


def checkout_body(plan: BuyerPlan) -> bytes:
    return json.dumps(
        {
            "event": EVENT,
            "ticket_type": TICKET_TYPE,
            "quantity": 1,
            "email": plan.email,
            "first_name": "Flash",
            "last_name": "Buyer",
            "phone": plan.phone,
        }
    ).encode()


@dataclass
class Sale:
    """What every buyer shares: where the service is, the clock, when the sale opened."""

    port: int
    timing: Timing
    opened: float
    poll_every: float | None = None
    deadline: float = 0.0

    async def shop(self, buyer: Buyer) -> None:
        await asyncio.sleep(max(0.0, self.opened + buyer.plan.arrival - time.perf_counter()))
        try:
            connection = await Browser.open(self.port)
        except (OSError, TimeoutError) as exc:
            buyer.errors.append(f"connect: {exc}")
            return
        try:
            if not await self._buy(buyer, connection):
                return
            if self.poll_every is not None:
                await self._poll(buyer, connection)
            else:
                await self._watch(buyer)
        except (HttpError, OSError, TimeoutError, ValueError, KeyError) as exc:
            buyer.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            connection.close()
            if buyer.waiter is not None:
                buyer.waiter.stop()

    async def _request(
        self, buyer: Buyer, connection: Browser, method: str, path: str, body: bytes = b""
    ) -> tuple[int, Any, float]:
        buyer.requests += 1
        sent = time.perf_counter()
        headers = JSON if method == "POST" else None
        response = await connection.request(method, path, body, headers)
        document = json.loads(response.body) if response.body else {}
        return response.status, document, response.received_at - sent

    async def _available(self, buyer: Buyer, connection: Browser) -> int:
        status, events, _ = await self._request(buyer, connection, "GET", "/api/events")
        if status != 200:
            buyer.errors.append(f"catalogue: HTTP {status}")
            return 0
        for event in events:
            for ticket in event["ticket_types"] if event["slug"] == EVENT else []:
                if ticket["slug"] == TICKET_TYPE:
                    return int(ticket["available"])
        buyer.errors.append("catalogue: the sale's ticket type is missing")
        return 0

    async def _buy(self, buyer: Buyer, connection: Browser) -> bool:
        """Read the catalogue and check out; True once an order is placed."""
        for attempt in range(1 + self.timing.sold_out_tries):
            if attempt:
                await asyncio.sleep(self.timing.s(self.timing.sold_out_retry))
            if await self._available(buyer, connection) <= 0:
                continue
            body = checkout_body(buyer.plan)
            status, document, seconds = await self._request(buyer, connection, "POST", "/api/orders", body)
            if status == 422 and "quantity" in document.get("fields", {}):
                buyer.sold_out_answers.append(seconds)
                continue
            buyer.checkout_status = status
            if status not in (201, 202):
                buyer.errors.append(f"checkout: HTTP {status} {str(document)[:160]}")
                return False
            buyer.checkout_seconds = seconds
            buyer.order_id, buyer.order_number = document["order_id"], document["order_number"]
            buyer.version = int(document["version"])
            buyer.saw(document["payment_status"], time.perf_counter())
            return True
        buyer.sold_out = True
        return False

    def _window_over(self) -> float:
        # The window runs from the push, which left before the checkout's answer came back.
        return self.timing.s(self.timing.prompt_window) + self.timing.s(1.0)

    async def _send_again(self, buyer: Buyer, connection: Browser) -> None:
        """The page's "send the prompt again", once its window is over and nothing came."""
        assert buyer.order_id is not None
        while buyer.final is None and time.perf_counter() < self.deadline:
            path = f"/api/orders/{buyer.order_id}/push"
            status, document, _ = await self._request(buyer, connection, "POST", path, b"{}")
            if status == 202:
                buyer.pushes_sent_again += 1
                return
            if status == 409 and document.get("error") == "prompt_open":
                await asyncio.sleep(max(0.05, float(document.get("retry_after", 1))))
                continue
            if status == 409 and document.get("error") == "order_final":
                return  # the answer came meanwhile; the transport will show it
            buyer.errors.append(f"send again: HTTP {status} {str(document)[:160]}")
            return

    async def _watch(self, buyer: Buyer) -> None:
        assert buyer.order_id is not None and buyer.order_number is not None

        def heard(_: Waiter, status: Received) -> None:
            buyer.saw(status.payment_status, status.at)

        hold = max(self.timing.s(self.timing.hold), 1.0)
        order = Order(buyer.order_id, buyer.order_number, buyer.version)
        waiter = Waiter(buyer.plan.transport, order, self.port, hold=hold, on_status=heard)
        buyer.waiter = waiter
        await waiter.start()
        assert waiter.finished is not None
        resend_at = time.perf_counter() + self._window_over()
        if buyer.final is None:
            await asyncio.wait([waiter.finished], timeout=max(0.0, resend_at - time.perf_counter()))
        if buyer.final is None and waiter.error is None:
            connection = await Browser.open(self.port)
            try:
                await self._send_again(buyer, connection)
            finally:
                connection.close()
        await asyncio.wait([waiter.finished], timeout=max(0.0, self.deadline - time.perf_counter()))
        buyer.requests += waiter.requests
        if waiter.error is not None:
            buyer.errors.append(waiter.error)
        elif buyer.final is None:
            buyer.errors.append(f"no final status on screen (last: {buyer.latest})")

    async def _poll(self, buyer: Buyer, connection: Browser) -> None:
        assert buyer.order_id is not None and self.poll_every is not None
        resend_at = time.perf_counter() + self._window_over()
        every = self.timing.s(self.poll_every)
        while buyer.final is None and time.perf_counter() < self.deadline:
            await asyncio.sleep(every)
            status, document, _ = await self._request(
                buyer, connection, "GET", f"/api/orders/{buyer.order_id}"
            )
            if status != 200:
                buyer.errors.append(f"poll: HTTP {status}")
                return
            buyer.saw(document["payment_status"], time.perf_counter())
            if buyer.final is None and not buyer.pushes_sent_again and time.perf_counter() >= resend_at:
                await self._send_again(buyer, connection)
        if buyer.final is None:
            buyer.errors.append(f"no final status on screen (last: {buyer.latest})")


class Browser:
    """A browser's keep-alive connection: opened again when the server closed it while idle
    (uvicorn closes one after 5 s without a request, the sold-out retry or poll interval)."""

    def __init__(self, port: int, connection: Connection) -> None:
        self.port = port
        self.connection = connection
        self.answered = 0  # responses on this connection: a later request reuses it

    async def request(self, method: str, path: str, body: bytes, headers: dict[str, str] | None) -> Response:
        """As a browser does: a request on a reused connection that the server closed before
        answering a byte (uvicorn's idle close crossing it) is sent once more on a new one."""
        connection = await self.ready()
        reused = self.answered > 0
        try:
            response = await connection.request(method, path, body=body, headers=headers, timeout=120)
        except NothingReceived:
            if not reused:
                raise
            self.connection.close()
            self.connection = await Connection.open(HOST, self.port)
            self.answered = 0
            response = await self.connection.request(method, path, body=body, headers=headers, timeout=120)
        self.answered += 1
        return response

    @classmethod
    async def open(cls, port: int) -> Browser:
        return cls(port, await Connection.open(HOST, port))

    async def ready(self) -> Connection:
        if self.connection.closed:
            self.connection = await Connection.open(HOST, self.port)
            self.answered = 0
        return self.connection

    def close(self) -> None:
        self.connection.close()
