"""The status event stream as a bare ASGI response: one coroutine per stream, no idle task.

sse-starlette runs four tasks in an anyio task group for every open stream (the body, the
pings, disconnect and shutdown listeners). Measured with bench.memory_profile that was
about 20 KB of the 43 KB each held stream cost. Here the request's own coroutine waits on
`receive()` for the client to leave, and the few moments a stream has something to say
(a status, a keep-alive comment, the end) are timer or watch callbacks that start a
short-lived writer task. The wire format is the same: `retry:` first, `id` / `event:
status` / `data` per status, a comment every ping interval, the end after a terminal
status, at the stream's maximum lifetime, or when the server drains for a restart.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from starlette.types import Receive, Scope, Send

from server.status.document import StatusUpdate
from server.status.waiting import Stream

log = logging.getLogger("server.sse")

PING = b": ping\r\n\r\n"


class SendTimeout(Exception):
    """The client stopped reading: its stream is dropped (uvicorn closes the connection)."""


def status_event(update: StatusUpdate) -> bytes:
    # Field order as sse-starlette wrote it: id, event, data. The JSON is encoded once per
    # update by the hub, however many streams carry it.
    return b"id: %d\r\nevent: status\r\ndata: %s\r\n\r\n" % (update.version, update.json.encode())


class EventStream:
    """Streams `stream` to one client; `__call__` is the ASGI response."""

    def __init__(
        self,
        stream: Stream,
        *,
        retry_ms: int,
        ping_interval: float,
        send_timeout: float,
        headers: Sequence[tuple[bytes, bytes]] = (),
    ) -> None:
        self.stream = stream
        self.retry_ms = retry_ms
        self.ping_interval = ping_interval
        self.send_timeout = send_timeout
        self.headers = headers
        self._send: Send | None = None
        self._writer: asyncio.Task[None] | None = None
        self._ping: asyncio.TimerHandle | None = None
        self._lifetime: asyncio.TimerHandle | None = None
        self._ping_due = False
        self._ending = False
        self._finished = False
        self._owner: asyncio.Task[object] | None = None
        self._failure: BaseException | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        watch = self.stream.watch
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"text/event-stream; charset=utf-8"),
                        (b"x-accel-buffering", b"no"),
                        *self.headers,
                    ],
                }
            )
            first = [b"retry: %d\r\n\r\n" % self.retry_ms]
            current = self.stream.current
            last = self.stream.last_event_id
            if last is None or current.version > last:
                first.append(status_event(current))
            if current.terminal or watch.ended:
                await send({"type": "http.response.body", "body": b"".join(first), "more_body": False})
                return
            await send({"type": "http.response.body", "body": b"".join(first), "more_body": True})
            self._start(send)
            try:
                # The request body is complete, so `receive()` next answers when the client
                # leaves or once the writer has sent the last chunk.
                while (await receive())["type"] != "http.disconnect":
                    pass
            except asyncio.CancelledError:
                if self._failure is None:
                    raise
            if self._failure is not None:
                raise self._failure
        finally:
            self._stop()
            self.stream.close()

    # -- the moments a stream speaks -------------------------------------------------------

    def _start(self, send: Send) -> None:
        loop = asyncio.get_running_loop()
        self._send = send
        self._owner = asyncio.current_task()
        self._ping = loop.call_later(self.ping_interval, self._on_ping)
        if self.stream.max_lifetime is not None:
            self._lifetime = loop.call_later(self.stream.max_lifetime, self._on_lifetime)
        self.stream.watch.listener = self._wake
        # News that came between the store read and now is queued on the watch already.
        self._wake()

    def _on_ping(self) -> None:
        self._ping_due = True
        self._ping = asyncio.get_running_loop().call_later(self.ping_interval, self._on_ping)
        self._wake()

    def _on_lifetime(self) -> None:
        # The client reconnects with Last-Event-ID and gets only what is newer.
        self._ending = True
        self._wake()

    def _wake(self) -> None:
        if self._writer is None and not self._finished:
            self._writer = asyncio.get_running_loop().create_task(self._write())

    async def _write(self) -> None:
        watch = self.stream.watch
        send = self._send
        assert send is not None
        try:
            while not self._finished:
                chunks = []
                while (update := watch.take()) is not None:
                    chunks.append(status_event(update))
                    if update.terminal:
                        self._ending = True
                        break
                if watch.ended:
                    self._ending = True
                if self._ping_due and not self._ending:
                    chunks.append(PING)
                self._ping_due = False
                if not chunks and not self._ending:
                    return
                self._finished = self._ending
                message = {
                    "type": "http.response.body",
                    "body": b"".join(chunks),
                    "more_body": not self._ending,
                }
                try:
                    # A deadline on this task, not `wait_for`: that runs `send` in a task of
                    # its own, so the bytes left one loop turn later, behind whatever the
                    # turn held (the next callback's whole transaction, on SQLite).
                    async with asyncio.timeout(self.send_timeout):
                        await send(message)
                except TimeoutError:
                    self._fail(SendTimeout(f"client did not read for {self.send_timeout:g}s"))
                    return
        except Exception as exc:
            self._fail(exc)
        finally:
            self._writer = None

    def _fail(self, exc: BaseException) -> None:
        """End the response with an error: the owner raises it and uvicorn drops the client."""
        self._finished = True
        if self._failure is None:
            self._failure = exc
            log.info("event stream for order %s dropped: %s", self.stream.watch.order_id, exc)
            if self._owner is not None:
                self._owner.cancel()

    def _stop(self) -> None:
        self._finished = True
        for timer in (self._ping, self._lifetime):
            if timer is not None:
                timer.cancel()
        if self._writer is not None and self._writer is not asyncio.current_task():
            self._writer.cancel()
        self.stream.watch.listener = None
