"""Counters the benchmarks (and operators) read: requests by route, store reads, hub figures.

Deliberately small: issue 7 grows this into the full Prometheus surface. What is here is
already in the Prometheus text format so that growth needs no change of shape.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Sequence

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from server.services import Services


class RequestCounts:
    """HTTP requests received, by route template (e.g. `/api/orders/{order_id}/wait`)."""

    def __init__(self, routes: Sequence[BaseRoute] = ()) -> None:
        self.routes = list(routes)
        self.by_route: Counter[tuple[str, str]] = Counter()

    def route_of(self, scope: Scope) -> str:
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is not Match.NONE:
                return str(getattr(route, "path", "other"))
        return "unmatched"

    def count(self, scope: Scope) -> None:
        self.by_route[(scope["method"], self.route_of(scope))] += 1


class CountRequests:
    """ASGI middleware counting each HTTP request as it arrives.

    `__call__` is a plain function returning the inner app's awaitable, not a coroutine:
    an `async def` layer would keep one more frame alive for every held `/wait` and SSE
    stream, and the point of this service is that those cost little.
    """

    def __init__(self, app: ASGIApp, counts: RequestCounts) -> None:
        self.app = app
        self.counts = counts

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] == "http":
            self.counts.count(scope)
        return self.app(scope, receive, send)


def render(services: Services, requests: RequestCounts) -> str:
    """The counters in the Prometheus text exposition format."""
    hub = services.hub
    lines = [
        "# HELP http_requests_total HTTP requests received, by method and route.",
        "# TYPE http_requests_total counter",
    ]
    for (method, route), value in sorted(requests.by_route.items()):
        lines.append(f'http_requests_total{{method="{method}",route="{route}"}} {value}')
    for name, kind, help_text, value in [
        ("store_reads_total", "counter", "Order reads from the store.", services.reader.reads),
        ("store_single_reads_total", "counter", "Reads of one order by id.", services.reader.single_reads),
        ("status_watches", "gauge", "Waiters (SSE streams and held /wait) now open.", hub.watch_count),
        ("status_channels", "gauge", "Order channels subscribed on the broker.", hub.channel_count),
        ("status_published_total", "counter", "Status changes published.", hub.published),
        ("status_publish_failures_total", "counter", "Publishes the broker refused.", hub.publish_failures),
        ("status_delivered_total", "counter", "Status updates handed to waiters.", hub.delivered),
        ("broker_reconnects_total", "counter", "Broker subscriber reconnects.", services.broker.reconnects),
    ]:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", f"{name} {value}"]
    return "\n".join(lines) + "\n"
