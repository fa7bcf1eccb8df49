"""Doorbells: "something about this event changed, read it again", through the hub's broker.

The organiser's desk shows figures (seats sold, check-ins) that many orders move. A bell
carries no figures, only its channel's name (`sales:{event}`, `door:{event}`): the store
stays the truth (DESIGN rule 1), and a listener re-reads it when rung. Listening uses the
hub's one broker connection (rule 4) and registers before the listener's first read
(rule 2); after a broker reconnect every bell rings, since a ring may have been missed.

Ringing is rate-bounded per channel and process: the first ring of a quiet channel goes out
at once, rings within the next `RING_WINDOW` seconds are folded into one at its end. A flash
sale's thousand payments a second are then five publishes a second, not a thousand, and a
desk still hears of the last one within a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable

from server.broker import Broker, BrokerUnavailable

log = logging.getLogger("server.hub")

SALES_PREFIX = "sales:"
DOOR_PREFIX = "door:"
RING_WINDOW = 0.2


def sales_channel(event_slug: str) -> str:
    """The channel a status change of an order for `event_slug` rings."""
    return SALES_PREFIX + event_slug


def door_channel(event_slug: str) -> str:
    """The channel a check-in at `event_slug`'s door rings."""
    return DOOR_PREFIX + event_slug


def is_bell(channel: str) -> bool:
    return channel.startswith((SALES_PREFIX, DOOR_PREFIX))


class Bells:
    def __init__(self, broker: Broker, reconcile: Callable[[str], Awaitable[None]]) -> None:
        self.broker = broker
        # The hub's: makes the broker's subscription match `wanted` under its channel lock.
        self._reconcile = reconcile
        self._listeners: dict[str, list[asyncio.Event]] = {}
        # Channels rung in their window, and whether another ring came meanwhile.
        self._window: dict[str, bool] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.rung = 0

    def wanted(self, channel: str) -> bool:
        return channel in self._listeners

    @contextlib.asynccontextmanager
    async def listening(self, channels: Iterable[str]) -> AsyncIterator[asyncio.Event]:
        """An event set whenever one of `channels` rings; subscribed before it is yielded."""
        bell = asyncio.Event()
        names = sorted(set(channels))
        for channel in names:
            self._listeners.setdefault(channel, []).append(bell)
        try:
            for channel in names:
                await self._reconcile(channel)
            yield bell
        finally:
            for channel in names:
                listeners = self._listeners.get(channel, [])
                if bell in listeners:
                    listeners.remove(bell)
                if not listeners:
                    self._listeners.pop(channel, None)
                    self._spawn(self._reconcile(channel))

    def deliver(self, channel: str) -> None:
        """A ring arrived (from the broker, or this process's own when it is down)."""
        for bell in self._listeners.get(channel, ()):
            bell.set()

    def ring_all(self) -> None:
        """The broker reconnected: rings may have been lost, so every listener re-reads."""
        for channel in list(self._listeners):
            self.deliver(channel)

    async def ring(self, channel: str) -> None:
        if channel in self._window:
            self._window[channel] = True  # folded into the ring at the window's end
            return
        self._window[channel] = False
        await self._publish(channel)
        self._spawn(self._close_window(channel))

    async def _close_window(self, channel: str) -> None:
        try:
            await asyncio.sleep(RING_WINDOW)
            if self._window.get(channel):
                await self._publish(channel)
        finally:
            self._window.pop(channel, None)

    async def _publish(self, channel: str) -> None:
        self.rung += 1
        try:
            await self.broker.publish(channel, channel)
        except BrokerUnavailable as exc:
            # Other processes' desks re-read at their own slow interval; this one's now.
            log.warning("bell %s not published: %s", channel, exc)
            self.deliver(channel)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
