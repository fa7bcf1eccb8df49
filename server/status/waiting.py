"""What the two waiting routes do, on top of the hub: long poll and event stream.

Both open a watch before they read the store (DESIGN rule 2) and speak in versions
(rule 3). Neither reads the store more than once; later news comes from the hub.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from server.status.document import StatusUpdate
from server.status.hub import StatusHub, Watch


@dataclass(frozen=True)
class WaitResult:
    update: StatusUpdate
    timed_out: bool


async def wait_for_change(
    hub: StatusHub, order_id: str, *, since: int | None, timeout: float
) -> WaitResult | None:
    """The order's status once it is newer than `since`, or at `timeout`; None if unknown.

    Without `since`, a terminal order answers at once and any other waits for its next change.
    """
    watch = await hub.watch(order_id)
    try:
        current = await hub.reader.get(order_id)
        if current is None:
            return None
        watch.seed(current)
        if since is None:
            if current.terminal:
                return WaitResult(current, False)
            since = current.version
        elif current.version > since:
            return WaitResult(current, False)
        deadline = time.monotonic() + timeout
        latest = current
        while True:
            update = await watch.wait(max(0.0, deadline - time.monotonic()))
            if update is None:
                return WaitResult(latest, True)
            latest = update
            if update.version > since:
                return WaitResult(latest, False)
    finally:
        watch.close()


@dataclass
class Stream:
    """An opened status stream: the current status is known, the watch is live."""

    watch: Watch
    current: StatusUpdate
    last_event_id: int | None
    # Seconds before the server ends the stream; the client reconnects with Last-Event-ID.
    max_lifetime: float | None = None

    @property
    def finished(self) -> bool:
        """The client already has the terminal status: nothing will ever be sent."""
        return (
            self.current.terminal
            and self.last_event_id is not None
            and self.last_event_id >= self.current.version
        )

    async def updates(self) -> AsyncIterator[StatusUpdate]:
        """The current status unless the client has it, then each newer one; ends after terminal."""
        try:
            if self.last_event_id is None or self.current.version > self.last_event_id:
                yield self.current
            if self.current.terminal:
                return
            deadline = None if self.max_lifetime is None else time.monotonic() + self.max_lifetime
            while True:
                remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
                update = await self.watch.next(remaining)
                if update is None:  # lifetime over, or the server is shutting down
                    return
                yield update
                if update.terminal:
                    return
        finally:
            self.watch.close()

    def close(self) -> None:
        self.watch.close()


async def open_stream(
    hub: StatusHub, order_id: str, *, last_event_id: int | None, max_lifetime: float | None = None
) -> Stream | None:
    watch = await hub.watch(order_id)
    try:
        current = await hub.reader.get(order_id)
    except BaseException:
        watch.close()
        raise
    if current is None:
        watch.close()
        return None
    watch.seed(current)
    return Stream(watch, current, last_event_id, max_lifetime)
