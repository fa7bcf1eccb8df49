"""In-process broker: the default on a single host, with no Redis to run."""

from __future__ import annotations

import asyncio

from server.broker.base import Broker, BrokerListener


class MemoryBroker(Broker):
    kind = "memory"

    def __init__(self) -> None:
        self._listener: BrokerListener | None = None
        self._channels: set[str] = set()

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
        # `latest` is not kept: no other process could read it, and this one reads the store.
        listener = self._listener
        if listener is not None and channel in self._channels:
            # Delivered on the next loop turn, as a real broker would, never inside publish.
            asyncio.get_running_loop().call_soon(listener.deliver, channel, message)

    async def ping(self) -> bool:
        return self._listener is not None
