"""Customers waiting on their orders: SSE streams and `/wait` long polls, thousands at once.

A waiter is one connection. An SSE waiter's events are parsed in the protocol callback,
so no task is kept per stream; a `/wait` waiter runs a small loop task that asks again
when a hold times out, as the page does. Every status received is stamped with
`perf_counter()` at the moment its bytes arrived.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from bench.http import Connection, HttpError, Response
from bench.metrics import READS
from bench.orders import Order
from bench.service import HOST, Service
from bench.sse import SSEParser

SSE, WAIT = "sse", "wait"
TERMINAL = frozenset({"completed", "failed", "cancelled", "expired"})


@dataclass
class Received:
    payment_status: str
    version: int
    at: float
    # The document's `updated_at` (when the service stamped the change), if it has one.
    updated_at: str | None = None


@dataclass
class Waiter:
    kind: str
    order: Order
    port: int
    hold: float = 25.0
    # The local address to connect from (127.0.0.x), or None for the kernel's choice.
    source: str | None = None
    connection: Connection | None = None
    statuses: list[Received] = field(default_factory=list)
    error: str | None = None
    # SSE: the current status has arrived. /wait: the request is on the wire.
    held: bool = False
    requests: int = 0
    finished: asyncio.Future[None] | None = None
    stopping: bool = False
    on_status: Callable[[Waiter, Received], None] | None = None
    _task: asyncio.Task[None] | None = None

    @property
    def changes(self) -> list[Received]:
        """Statuses newer than the one the order had when the waiter arrived."""
        return [r for r in self.statuses if r.version > self.order.version]

    async def start(self) -> None:
        self.finished = asyncio.get_running_loop().create_future()
        try:
            self.connection = await Connection.open(HOST, self.port, source=self.source)
        except (OSError, TimeoutError) as exc:
            # The errno says what ran out: files (24), ports (99), memory (12).
            self._fail(f"connect: {type(exc).__name__} {exc}".strip())
            return
        if self.kind == SSE:
            self._start_stream()
        else:
            self._task = asyncio.create_task(self._poll())

    def stop(self) -> None:
        self.stopping = True
        if self._task is not None:
            self._task.cancel()
        if self.connection is not None:
            self.connection.close()
        self._done()

    # -- SSE ---------------------------------------------------------------------------

    def _start_stream(self) -> None:
        assert self.connection is not None
        parser = SSEParser()
        connection = self.connection

        def sink(chunk: bytes, at: float) -> None:
            head = connection.response_head()
            if head is not None and head.status != 200:
                return
            for event in parser.feed(chunk):
                if event.event == "status":
                    self._record(json.loads(event.data), at)
                    self.held = True

        self.requests += 1
        try:
            path = f"/api/orders/{self.order.order_id}/events"
            future = connection.send("GET", path, headers={"Accept": "text/event-stream"}, sink=sink)
        except HttpError as exc:
            self._fail(f"send: {exc}")
            return
        future.add_done_callback(self._stream_ended)

    def _stream_ended(self, future: asyncio.Future[Response]) -> None:
        if future.cancelled() or self.stopping:
            self._done()
            return
        exc = future.exception()
        if exc is not None:
            self._fail(f"sse: {exc}")
        elif future.result().status != 200:
            self._fail(f"sse: HTTP {future.result().status}")
        elif not self.statuses or self.statuses[-1].payment_status not in TERMINAL:
            self._fail("sse: stream ended before a terminal status")
        else:
            self._done()

    # -- /wait -------------------------------------------------------------------------

    async def _poll(self) -> None:
        assert self.connection is not None
        since = self.order.version
        path = f"/api/orders/{self.order.order_id}/wait?since={{}}&timeout={self.hold:g}"
        try:
            while True:
                self.requests += 1
                future = self.connection.send("GET", path.format(since))
                self.held = True
                response = await future
                if response.status != 200:
                    self._fail(f"wait: HTTP {response.status}")
                    return
                document = json.loads(response.body)
                if not document.get("timed_out"):
                    received = self._record(document, response.received_at)
                    since = received.version
                    if received.payment_status in TERMINAL:
                        self._done()
                        return
                if response.closing:
                    self._fail("wait: server closed the connection")
                    return
        except asyncio.CancelledError:
            self._done()
        except (HttpError, OSError, ValueError) as exc:
            if not self.stopping:
                self._fail(f"wait: {exc}")
            self._done()

    # -- shared ------------------------------------------------------------------------

    def _record(self, document: dict[str, object], at: float) -> Received:
        stamp = document.get("updated_at")
        received = Received(
            str(document["payment_status"]),
            int(str(document["version"])),
            at,
            stamp if isinstance(stamp, str) else None,
        )
        self.statuses.append(received)
        if self.on_status is not None:
            self.on_status(self, received)
        if self.kind == SSE and received.payment_status in TERMINAL:
            self._done()
        return received

    def _fail(self, reason: str) -> None:
        if self.error is None and not self.stopping:
            self.error = reason
        self._done()

    def _done(self) -> None:
        if self.finished is not None and not self.finished.done():
            self.finished.set_result(None)


class FirstChanges:
    """`on_status` hook: when each order's waiter first got a status newer than the order had."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}

    def __call__(self, waiter: Waiter, status: Received) -> None:
        if status.version > waiter.order.version:
            self.at.setdefault(waiter.order.order_id, status.at)


def split_kinds(orders: Iterable[Order], *, sse_share: float = 0.5) -> list[tuple[str, Order]]:
    """Alternate SSE and /wait so that any prefix of the list is mixed too."""
    orders = list(orders)
    every = round(1 / sse_share) if sse_share else 0
    return [(SSE if every and i % every == 0 else WAIT, order) for i, order in enumerate(orders)]


class Server(Protocol):
    """Anything waiters can be opened on: this service, or a peer in bench.compare."""

    @property
    def port(self) -> int: ...


# A server's own count of the waiters it has taken in: it must grow by one per waiter.
ServerCount = Callable[[], Awaitable[float]]


async def open_waiters(
    service: Server,
    plan: Iterable[tuple[str, Order]],
    *,
    hold: float = 25.0,
    batch: int = 500,
    on_status: Callable[[Waiter, Received], None] | None = None,
    timeout: float = 120.0,
    count: ServerCount | None = None,
    source: str | None = None,
) -> list[Waiter]:
    """Open one waiter per (kind, order) on `service`, `batch` at a time.

    The next batch starts once the server has read the store for every waiter of this one
    (`store_reads_total`), so the ramp goes at the server's pace and each batch is really
    held, not queued in the accept backlog, when the next one arrives. Another server (a
    peer in bench.compare) gives its own `count` of waiters held; then only that count is
    awaited, since a peer sends nothing on a stream until a message comes. A client that
    cannot see the server's count (one of bench.hundred_k's processes, with several
    service workers) gives a bare `Server` and no count: it waits for its own waiters only.
    With `source`, every connection comes from that local address.
    """
    plan = list(plan)
    waiters: list[Waiter] = []
    port = service.port
    client_held = count is None
    if count is None and isinstance(service, Service):
        count = _store_reads(service)
    expected = await count() if count is not None else 0.0
    deadline = time.monotonic() + timeout
    for start in range(0, len(plan), batch):
        chunk = [
            Waiter(kind, order, port, hold=hold, source=source, on_status=on_status)
            for kind, order in plan[start : start + batch]
        ]
        await asyncio.gather(*(w.start() for w in chunk))
        waiters.extend(chunk)
        expected += sum(1 for w in chunk if w.error is None)
        while True:
            counted = count is None or await count() >= expected
            if counted and (not client_held or all(w.held or w.error for w in chunk)):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(waiters)} waiters not held after {timeout}s")
            await asyncio.sleep(0.05)
    return waiters


def _store_reads(service: Service) -> ServerCount:
    async def reads() -> float:
        return (await service.metrics())[READS]

    return reads


def errors(waiters: Iterable[Waiter]) -> Counter[str]:
    return Counter(w.error for w in waiters if w.error is not None)


def close_all(waiters: Iterable[Waiter]) -> None:
    for waiter in waiters:
        waiter.stop()
