"""A small HTTP/1.1 client on raw asyncio transports: cheap enough to hold 15,000 connections.

httpx (or aiohttp) per connection costs tens of kilobytes and a task or two; here a
connection is one `asyncio.Protocol` with a byte buffer, and a response is parsed in
`data_received`, so the receive time of an SSE event is taken the moment its bytes arrive,
before any task is scheduled. One connection carries requests one after the other
(keep-alive), or one streaming response whose body chunks go to a callback.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

# Body chunks of a streaming response, with the perf_counter time their bytes arrived.
BodySink = Callable[[bytes, float], None]


class HttpError(Exception):
    """The connection broke, or the server answered something that is not HTTP/1.1."""


class NothingReceived(HttpError):
    """The connection closed before any byte of the response: on a kept-alive connection,
    the server closing it as idle while the request was on its way (a browser sends such a
    request again on a new connection)."""


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes = b""
    # perf_counter() when the last byte of the response arrived.
    received_at: float = 0.0
    # The server will close the connection after this response.
    closing: bool = False

    def text(self) -> str:
        return self.body.decode("utf-8")


@dataclass
class _Pending:
    future: asyncio.Future[Response]
    sink: BodySink | None
    head_only: bool = False
    response: Response | None = None
    chunks: list[bytes] = field(default_factory=list)


_HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILER, _UNTIL_CLOSE = range(7)


class Connection(asyncio.Protocol):
    """One keep-alive connection to `host:port`; one request in flight at a time."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._buffer = bytearray()
        self._pending: _Pending | None = None
        self._state = _HEAD
        self._remaining = 0
        self._lost: asyncio.Future[None] | None = None
        # We closed it: a response cut short by that is cancelled, not an error.
        self._closing = False

    @classmethod
    async def open(
        cls, host: str, port: int, *, timeout: float = 30.0, source: str | None = None
    ) -> Connection:
        """Connect; with `source`, from that local address (bound before the connect).

        One source address has about 28,000 ephemeral ports towards one server port, so a
        client holding more connections than that spreads them over 127.0.0.x sources.
        """
        loop = asyncio.get_running_loop()
        connection = cls(host, port)
        local = (source, 0) if source else None
        connecting = loop.create_connection(lambda: connection, host, port, local_addr=local)
        await asyncio.wait_for(connecting, timeout)
        return connection

    # -- requests ------------------------------------------------------------------------

    def send(
        self,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        sink: BodySink | None = None,
    ) -> asyncio.Future[Response]:
        """Write a request now; the future resolves with the response.

        With `sink`, body bytes go to the sink as they arrive (an SSE stream) and the
        future resolves only when the response ends; `response_head()` gives the head.
        """
        if self.closed or self.transport is None:
            raise HttpError("connection is closed")
        if self._pending is not None:
            raise HttpError("a request is already in flight on this connection")
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        if body or method in {"POST", "PUT", "PATCH"}:
            lines.append(f"Content-Length: {len(body)}")
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._pending = _Pending(future, sink, head_only=method == "HEAD")
        self._state = _HEAD
        self.transport.write(head + body if body else head)
        return future

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        timeout: float | None = 60.0,
    ) -> Response:
        return await asyncio.wait_for(self.send(method, path, body=body, headers=headers), timeout)

    def response_head(self) -> Response | None:
        """The status and headers of the response in flight, once they have arrived."""
        return self._pending.response if self._pending else None

    def close(self) -> None:
        self._closing = True
        if self.transport is not None and not self.closed:
            self.transport.close()

    async def wait_closed(self) -> None:
        if self._lost is not None:
            await self._lost

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but speak the same API.
        self.transport = cast(asyncio.Transport, transport)
        self._lost = asyncio.get_running_loop().create_future()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        pending, self._pending = self._pending, None
        if pending is not None and not pending.future.done():
            if self._state == _UNTIL_CLOSE and pending.response is not None:
                self._finish(pending, time.perf_counter())
            elif self._closing:
                pending.future.cancel()
            else:
                reason = f": {exc}" if exc else ""
                silent = self._state == _HEAD and not self._buffer and pending.response is None
                error = NothingReceived if silent else HttpError
                pending.future.set_exception(error(f"connection closed mid-response{reason}"))
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        self._buffer += data
        try:
            self._parse(now)
        except HttpError as exc:
            pending, self._pending = self._pending, None
            if pending is not None and not pending.future.done():
                pending.future.set_exception(exc)
            self.close()

    # -- parsing -----------------------------------------------------------------------

    def _parse(self, now: float) -> None:
        while self._pending is not None:
            pending = self._pending
            if self._state == _HEAD:
                end = self._buffer.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = bytes(self._buffer[:end]).decode("latin-1")
                del self._buffer[: end + 4]
                pending.response = _parse_head(head)
                self._state = self._body_state(pending)
                if self._state == _HEAD:  # no body at all
                    self._finish(pending, now)
            elif self._state == _LENGTH:
                take = min(self._remaining, len(self._buffer))
                if take == 0 and self._remaining:
                    return
                self._body(pending, bytes(self._buffer[:take]), now)
                del self._buffer[:take]
                self._remaining -= take
                if self._remaining:
                    return
                self._finish(pending, now)
            elif self._state == _CHUNK_SIZE:
                end = self._buffer.find(b"\r\n")
                if end < 0:
                    return
                size_text = bytes(self._buffer[:end]).split(b";", 1)[0].strip()
                del self._buffer[: end + 2]
                try:
                    self._remaining = int(size_text, 16)
                except ValueError:
                    raise HttpError(f"bad chunk size {size_text!r}") from None
                self._state = _CHUNK_DATA if self._remaining else _TRAILER
            elif self._state == _CHUNK_DATA:
                take = min(self._remaining, len(self._buffer))
                if take == 0:
                    return
                self._body(pending, bytes(self._buffer[:take]), now)
                del self._buffer[:take]
                self._remaining -= take
                if not self._remaining:
                    self._state = _CHUNK_END
            elif self._state == _CHUNK_END:
                if len(self._buffer) < 2:
                    return
                del self._buffer[:2]
                self._state = _CHUNK_SIZE
            elif self._state == _TRAILER:
                end = self._buffer.find(b"\r\n")
                if end < 0:
                    return
                trailer = bytes(self._buffer[:end])
                del self._buffer[: end + 2]
                if not trailer:
                    self._finish(pending, now)
            elif self._state == _UNTIL_CLOSE:
                if self._buffer:
                    self._body(pending, bytes(self._buffer), now)
                    self._buffer.clear()
                return

    def _body_state(self, pending: _Pending) -> int:
        response = pending.response
        assert response is not None
        if pending.head_only or response.status in (204, 304) or 100 <= response.status < 200:
            return _HEAD
        if "chunked" in response.headers.get("transfer-encoding", "").lower():
            return _CHUNK_SIZE
        length = response.headers.get("content-length")
        if length is not None:
            self._remaining = int(length)
            return _LENGTH if self._remaining else _HEAD
        response.closing = True
        return _UNTIL_CLOSE

    def _body(self, pending: _Pending, data: bytes, now: float) -> None:
        if not data:
            return
        if pending.sink is not None:
            pending.sink(data, now)
        else:
            pending.chunks.append(data)

    def _finish(self, pending: _Pending, now: float) -> None:
        response = pending.response
        assert response is not None
        response.body = b"".join(pending.chunks)
        response.received_at = now
        self._pending = None
        self._state = _HEAD
        if not pending.future.done():
            pending.future.set_result(response)
        if response.closing:
            self.close()


def _parse_head(head: str) -> Response:
    status_line, *header_lines = head.split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise HttpError(f"not an HTTP/1.1 status line: {status_line!r}")
    headers: dict[str, str] = {}
    for line in header_lines:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    closing = headers.get("connection", "").lower() == "close" or parts[0] == "HTTP/1.0"
    return Response(int(parts[1]), headers, closing=closing)
