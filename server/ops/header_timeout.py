"""uvicorn's HTTP protocols with a deadline on request headers (slowloris).

uvicorn ends an idle keep-alive connection after `--timeout-keep-alive`, but a client that
sends a request's header bytes one at a time keeps its connection (a socket, a protocol
object, buffers) for as long as it likes: 300 such connections stayed open for good
(issue 15). Here a connection whose next request's headers have not all arrived within
HEADER_TIMEOUT of its opening, or of its last response, is closed. Once a request's
headers are in, the deadline no longer applies: a held `/wait` or an event stream is the
app's business. The deadline is read from the app's lifespan state (the service's
settings), so it is configured like every other variable.

Run by `python -m server.launcher` (the Procfile), which hands these classes to uvicorn.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from server.ops.connection_guards import BodyDeadlineAndCap
from server.ops.lean_connection import LeanConnection

log = logging.getLogger("server.http")

DEFAULT_HEADER_TIMEOUT = 10.0

if TYPE_CHECKING:
    _Protocol = HttpToolsProtocol  # what the mixin uses, both protocols have
else:
    _Protocol = object


def header_timeout_of(app_state: Mapping[str, object]) -> float:
    """HEADER_TIMEOUT from uvicorn's lifespan state (whatever the app put there, so read warily)."""
    services = app_state.get("services")
    timeout = getattr(getattr(services, "settings", None), "header_timeout", None)
    return float(timeout) if timeout else DEFAULT_HEADER_TIMEOUT


class HeaderDeadline(_Protocol):
    """Closes the connection when a request's headers are late (see the module).

    Its two attributes are slots of the concrete classes: uvicorn's protocol objects
    already carry some 30 attributes, and two more in their `__dict__` pushed it past
    CPython's shared-key size, about 1 KB more per connection (bench.idle_waiters).
    """

    __slots__ = ()
    header_timeout: float
    header_deadline: asyncio.TimerHandle | None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.header_timeout = header_timeout_of(self.app_state)
        self.header_deadline = None
        super().connection_made(transport)
        self.arm_header_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self.arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self.disarm_header_deadline()
        super().connection_lost(exc)

    def arm_header_deadline(self) -> None:
        self.disarm_header_deadline()
        self.header_deadline = self.loop.call_later(self.header_timeout, self.headers_too_slow)

    def disarm_header_deadline(self) -> None:
        if self.header_deadline is not None:
            self.header_deadline.cancel()
            self.header_deadline = None

    def headers_too_slow(self) -> None:
        self.header_deadline = None
        # A request whose headers arrived has a cycle that is not complete: leave it be.
        if (self.cycle is None or self.cycle.response_complete) and not self.transport.is_closing():
            log.debug("closed a connection whose request headers took over %gs", self.header_timeout)
            self.transport.close()


# Each also has a body deadline and a cap on connections per client (connection_guards.py).
class HttpToolsHeaderTimeout(BodyDeadlineAndCap, HeaderDeadline, LeanConnection, HttpToolsProtocol):
    __slots__ = (
        "_pipeline",
        "body_deadline",
        "body_timeout",
        "counted_as",
        "header_deadline",
        "header_timeout",
    )

    def on_headers_complete(self) -> None:
        # Freed at once rather than at the deadline: thousands of held requests are normal.
        self.disarm_header_deadline()
        super().on_headers_complete()


class H11HeaderTimeout(BodyDeadlineAndCap, HeaderDeadline, H11Protocol):  # type: ignore[misc]
    __slots__ = ("body_deadline", "body_timeout", "counted_as", "header_deadline", "header_timeout")
