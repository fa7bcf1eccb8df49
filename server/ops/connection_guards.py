"""Two guards on uvicorn's connections, beside the header deadline (issue 24).

- **Body deadline** (`BODY_TIMEOUT`): once a request's headers are in, its body must all
  arrive within this many seconds, or the connection is closed. Before, a client sending a
  body at half a byte a second kept its connection for as long as it liked (100/100 open
  after 60 s; at 256 open files, 240 of them made normal requests fail). The route reading
  the body then meets a disconnect, which is answered 499 and counted, never a 5xx. Requests
  without a body (a held `/wait`, an event stream) are not affected.
- **Connections per client** (`MAX_CONNECTIONS_PER_CLIENT`): one client address (an IPv6
  one by its /64) may hold this many open connections to one process; past it a new one is
  closed at once. Only peers `FORWARDED_ALLOW_IPS` does not trust are counted: a proxy or
  router in front carries many customers on its connections, and bounds its clients itself.

Both read their settings from the app's lifespan state, as the header deadline does.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from server.abuse.addresses import client_key
from server.ops.forwarded import TrustedProxies

log = logging.getLogger("server.http")

DEFAULT_BODY_TIMEOUT = 30.0

if TYPE_CHECKING:
    _Protocol = HttpToolsProtocol
else:
    _Protocol = object


@dataclass
class ConnectionCounts:
    """Open connections per client key in this process, for peers not trusted as proxies."""

    limit: int
    trusted: TrustedProxies
    open: Counter[str] = field(default_factory=Counter)
    refused: int = 0

    def admit(self, peer: str) -> str | None:
        """The key counted for `peer`, or None when it is not counted; raises OverCap."""
        if self.limit <= 0 or peer in self.trusted:
            return None
        key = client_key(peer)
        if self.open[key] >= self.limit:
            self.refused += 1
            raise OverCap(key)
        self.open[key] += 1
        return key

    def release(self, key: str) -> None:
        self.open[key] -= 1
        if self.open[key] <= 0:
            del self.open[key]


class OverCap(Exception):
    pass


def _settings(app_state: Mapping[str, object]) -> Any:
    return getattr(app_state.get("services"), "settings", None)


def connection_counts(app_state: MutableMapping[str, object]) -> ConnectionCounts | None:
    """The process's counts, made on first use from the service's settings (None before start)."""
    counts = app_state.get("connection_counts")
    if counts is None:
        settings = _settings(app_state)
        if settings is None:
            return None
        counts = ConnectionCounts(
            settings.max_connections_per_client, TrustedProxies(settings.forwarded_allow_ips)
        )
        app_state["connection_counts"] = counts
    assert isinstance(counts, ConnectionCounts)
    return counts


class BodyDeadlineAndCap(_Protocol):
    """Mixin for uvicorn's protocols: the concrete classes give the attributes slots."""

    __slots__ = ()
    body_timeout: float
    body_deadline: asyncio.TimerHandle | None
    counted_as: str | None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        settings = _settings(self.app_state)
        self.body_timeout = float(getattr(settings, "body_timeout", None) or DEFAULT_BODY_TIMEOUT)
        self.body_deadline = None
        self.counted_as = None
        counts = connection_counts(self.app_state)
        peer = transport.get_extra_info("peername")
        if counts is not None and isinstance(peer, tuple) and peer:
            try:
                self.counted_as = counts.admit(str(peer[0]))
            except OverCap as over:
                log.info("closed a new connection: %s holds %d already", over, counts.limit)
                transport.abort()
                return
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        cycle = self.cycle
        if cycle is not None and cycle.more_body and self.body_deadline is None:
            self.body_deadline = self.loop.call_later(self.body_timeout, self.body_too_slow, cycle)

    def on_response_complete(self) -> None:
        self.disarm_body_deadline()
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self.disarm_body_deadline()
        if self.counted_as is not None:
            counts = connection_counts(self.app_state)
            if counts is not None:
                counts.release(self.counted_as)
            self.counted_as = None
        if getattr(self, "transport", None) is None:
            return  # refused in connection_made: uvicorn never set this connection up
        super().connection_lost(exc)

    def disarm_body_deadline(self) -> None:
        if self.body_deadline is not None:
            self.body_deadline.cancel()
            self.body_deadline = None

    def body_too_slow(self, cycle: Any) -> None:
        self.body_deadline = None
        if self.cycle is cycle and cycle.more_body and not self.transport.is_closing():
            log.info("closed a connection whose request body took over %gs", self.body_timeout)
            self.transport.close()
