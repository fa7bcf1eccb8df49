"""In-process broker: the default on a single host, with no Redis to run."""

from __future__ import annotations

import asyncio
import time

from server.broker.base import LATEST_TTL_SECONDS, Broker, BrokerListener


class MemoryBroker(Broker):
    kind = "memory"

    def __init__(self) -> None:
        self._listener: BrokerListener | None = None
        self._channels: set[str] = set()
        self._latest: dict[str, tuple[float, str]] = {}

    async def connect(self, listener: BrokerListener) -> None:
        self._listener = listener

    async def disconnect(self) -> None:
        self._listener = None
        self._channels.clear()

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)

    async def publish(self, channel: str, message: str, *, latest: str | None = None) -> None:
        if latest is not None:
            self._expire_latest()
            self._latest[latest] = (time.monotonic() + LATEST_TTL_SECONDS, message)
        listener = self._listener
        if listener is not None and channel in self._channels:
            # Delivered on the next loop turn, as a real broker would, never inside publish.
            asyncio.get_running_loop().call_soon(listener.deliver, channel, message)

    async def get_latest(self, key: str) -> str | None:
        entry = self._latest.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    async def ping(self) -> bool:
        return self._listener is not None

    def _expire_latest(self) -> None:
        # Amortised clean-up: only when the cache has grown, so publish stays O(1) on average.
        if len(self._latest) < 1024 or len(self._latest) & 1023:
            return
        now = time.monotonic()
        for key in [k for k, (expires, _) in self._latest.items() if expires < now]:
            del self._latest[key]
