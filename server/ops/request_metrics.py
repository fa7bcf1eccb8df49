"""Pure ASGI middleware around every request: metrics and the request log, and a header cap.

Pure ASGI rather than BaseHTTPMiddleware: the SSE and long-poll responses are held open and
streamed, and must pass through untouched and unbuffered.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.http_errors import error_response
from server.ops.metrics import Metrics

log = logging.getLogger("server.access")

# Request headers past this (all names and values together) get a JSON 431. Proxies and
# uvicorn have their own, larger limits whose answers are not JSON; this one comes first.
MAX_HEADER_BYTES = 16 * 1024


def _route(scope: Scope) -> str | None:
    # Starlette's router leaves the matched route (or a method-mismatch partial) on the scope.
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else None


class RequestObserver:
    """Counts each response by route template and status as it starts (a stream counts when
    it opens), and, with LOG_REQUESTS, logs it when it ends.

    Route templates, never raw paths: a raw path carries the callback secret, and would give
    every fuzzed URL a label of its own.

    Without LOG_REQUESTS nothing waits for the end of a request, so `__call__` returns the
    inner app's awaitable with `send` wrapped, and adds no frame of its own to a held
    request (bench.memory_profile: ~0.5 KB each). A 500 that an exception causes before
    any response started is counted by the handler that answers it (server/http_errors.py).
    """

    def __init__(self, app: ASGIApp, metrics: Metrics, log_requests: bool = False) -> None:
        self.app = app
        self.metrics = metrics
        self.log_requests = log_requests

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        observed = ObservedSend(send, scope, self.metrics)
        if self.log_requests:
            return self._logged(scope, receive, observed)
        return self.app(scope, receive, observed)

    async def _logged(self, scope: Scope, receive: Receive, observed: ObservedSend) -> None:
        started = time.perf_counter()
        try:
            await self.app(scope, receive, observed)
        finally:
            self._log(scope, observed.status or 500, started)

    def _log(self, scope: Scope, status: int, started: float) -> None:
        route = _route(scope)
        duration_ms = round((time.perf_counter() - started) * 1000, 1)
        client = scope.get("client")
        log.info(
            "%s %s %d %.1fms",
            scope["method"],
            route or "<unmatched>",
            status,
            duration_ms,
            extra={
                "method": scope["method"],
                "route": route,
                "status": status,
                "duration_ms": duration_ms,
                "client": client[0] if client else None,
            },
        )


class ObservedSend:
    """The `send` a request's app is given: counts the response when it starts."""

    __slots__ = ("metrics", "scope", "send", "started", "status")

    def __init__(self, send: Send, scope: Scope, metrics: Metrics) -> None:
        self.send = send
        self.scope = scope
        self.metrics = metrics
        self.status = 0
        self.started = time.perf_counter()

    def __call__(self, message: Message) -> Awaitable[None]:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            seconds = time.perf_counter() - self.started
            self.metrics.request_done(self.scope["method"], _route(self.scope), self.status, seconds)
        return self.send(message)


class HeaderLimit:
    """Refuses oversized request headers; otherwise hands the request on without a frame."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_HEADER_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] == "http":
            size = sum(len(name) + len(value) for name, value in scope["headers"])
            if size > self.max_bytes:
                response = error_response(
                    431,
                    "headers_too_large",
                    f"The request headers are larger than {self.max_bytes} bytes.",
                    limit=self.max_bytes,
                )
                return response(scope, receive, send)
        return self.app(scope, receive, send)
