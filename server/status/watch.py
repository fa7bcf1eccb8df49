"""One waiter's view of one order (`Watch`), and the shared wheel that times waits out.

Both are held once per waiting customer, so both are kept small (bench.memory_profile).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Protocol

from server.broker import status_channel
from server.status.document import StatusUpdate


class WatchOwner(Protocol):
    """What a watch needs of the hub that made it (`StatusHub`), named here so that this
    module does not import the hub that imports it."""

    @property
    def deadlines(self) -> Deadlines: ...

    def _leave(self, watch: Watch) -> None: ...


class Expiring(Protocol):
    def expire(self) -> None:
        """The wait's deadline has passed."""


class Watch:
    """One waiter's view of one order: the updates newer than what it has seen.

    Updates queue in a plain list (they come one or two per payment; a deque allocates a
    64-slot block up front); a timed wait is one future, awaited directly, with its timeout
    in a shared `Deadlines` slot (`asyncio.wait_for` adds a second future, a callback and a
    timer handle of its own). A `listener` lets a held request be told of news without a
    task parked on `next()` (server/routes/event_stream.py, server/status/waiting.py).
    """

    __slots__ = (
        "_closed",
        "_ended",
        "_future",
        "_hub",
        "_pending",
        "_slot",
        "channel",
        "client",
        "listener",
        "order_id",
        "version",
    )

    def __init__(self, hub: WatchOwner, order_id: str, client: str | None = None) -> None:
        self._hub = hub
        self.order_id = order_id
        self.channel = status_channel(order_id)
        # The address it is counted against for MAX_WAITERS_PER_CLIENT; None: not counted.
        self.client = client
        self.version = 0
        self._pending: list[StatusUpdate] = []
        self._future: asyncio.Future[StatusUpdate | None] | None = None
        self._slot: int | None = None
        self._closed = False
        # Set when the server ends every wait at once (shutdown): `next` answers None at once.
        self._ended = False
        # Called (without arguments) after each update queued and when the wait is ended.
        self.listener: Callable[[], None] | None = None

    def seed(self, current: StatusUpdate) -> None:
        """Record the version read from the store; queued updates not newer are dropped."""
        self._pending = [update for update in self._pending if update.version > current.version]
        self.version = max(self.version, current.version)

    def push(self, update: StatusUpdate) -> bool:
        if update.version <= self.version:
            return False
        self.version = update.version
        self._pending.append(update)
        self._wake()
        return True

    def end(self) -> None:
        self._ended = True
        self._wake()

    def _wake(self) -> None:
        future = self._future
        if future is not None:
            self._future = None
            if self._slot is not None:
                self._hub.deadlines.discard(self._slot, self)
                self._slot = None
            if not future.done():
                future.set_result(self.take())
        if self.listener is not None:
            self.listener()

    def expire(self) -> None:
        """The timed wait's deadline passed (called by `Deadlines`): it answers None."""
        future = self._future
        self._future = None
        self._slot = None
        if future is not None and not future.done():
            future.set_result(None)

    @property
    def ended(self) -> bool:
        return self._ended

    @property
    def closed(self) -> bool:
        return self._closed

    def take(self) -> StatusUpdate | None:
        """The oldest queued update, without waiting; None when there is none."""
        return self._pending.pop(0) if self._pending else None

    def wait(self, timeout: float | None) -> asyncio.Future[StatusUpdate | None]:
        """A future of the next newer update: None when `timeout` passes or the wait is ended.

        A future rather than a coroutine, so that awaiting it keeps no frame of its own
        alive for the whole hold.
        """
        future: asyncio.Future[StatusUpdate | None] = asyncio.get_running_loop().create_future()
        if self._pending or self._ended or (timeout is not None and timeout <= 0):
            future.set_result(self.take())
            return future
        self._future = future
        self._slot = None if timeout is None else self._hub.deadlines.add(self, timeout)
        return future

    async def next(self, timeout: float | None) -> StatusUpdate | None:
        """The next newer update, or None when `timeout` passes or the wait is ended first."""
        return await self.wait(timeout)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.listener = None
            if self._slot is not None:
                self._hub.deadlines.discard(self._slot, self)
                self._slot = None
            self._hub._leave(self)


class Deadlines:
    """When held waits time out: one timer per tenth of a second, not one per request.

    Each held wait needs a timeout, and a timer handle per request (with uvloop, a handle
    and a libuv timer) was among the largest things it kept alive. Deadlines are rounded
    up to the next slot of `resolution` seconds; each slot has one timer, shared by every
    wait that ends in it, and lists the waits to `expire()`.
    """

    def __init__(self, resolution: float = 0.1) -> None:
        self.resolution = resolution
        self._slots: dict[int, list[Expiring]] = {}

    def add(self, item: Expiring, timeout: float) -> int:
        loop = asyncio.get_running_loop()
        slot = math.ceil((loop.time() + timeout) / self.resolution)
        items = self._slots.get(slot)
        if items is None:
            items = self._slots[slot] = []
            loop.call_at(slot * self.resolution, self._expire, slot)
        items.append(item)
        return slot

    def discard(self, slot: int, item: Expiring) -> None:
        items = self._slots.get(slot)
        if items is not None and item in items:
            items.remove(item)

    def _expire(self, slot: int) -> None:
        for item in self._slots.pop(slot, ()):
            item.expire()
