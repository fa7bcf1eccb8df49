"""Stopping the Redis subscriber ends its reading task even when the read swallows the
cancellation (redis-py's read did, once in a whole run: the test's disconnect, and so a
shutdown, waited for good on a task stuck "cancelling")."""

from __future__ import annotations

import asyncio
from typing import Any

from server.broker.redis_health import RedisHealth
from server.broker.stream import SubscriberStream


class SwallowingPubSub:
    """A pubsub whose read loses a cancellation and then waits for a reply that never
    comes, until its connection is closed."""

    def __init__(self) -> None:
        self.closed = asyncio.Event()
        self.reading = asyncio.Event()

    async def ping(self) -> bool:
        return True

    async def subscribe(self, *channels: str) -> None:
        return None

    async def get_message(self, timeout: float | None = None) -> Any:
        self.reading.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            pass  # lost, as in the read that hung
        await self.closed.wait()
        raise ConnectionError("connection closed")

    async def aclose(self) -> None:
        self.closed.set()


class OneConnection:
    def __init__(self) -> None:
        self.made = SwallowingPubSub()

    def pubsub(self) -> SwallowingPubSub:
        return self.made

    async def aclose(self) -> None:
        return None


class Quiet:
    def deliver(self, channel: str, message: str) -> None:
        raise AssertionError("nothing is published here")

    def resync(self) -> None:
        return None


async def test_stop_ends_a_reading_task_whose_read_swallowed_the_cancellation() -> None:
    client = OneConnection()
    stream = SubscriberStream(client, Quiet(), RedisHealth(), name="test")  # type: ignore[arg-type]
    stream.start()
    await asyncio.wait_for(client.made.reading.wait(), 5)
    task = stream._task
    assert task is not None
    stopping = asyncio.create_task(stream.stop())
    try:
        # Not wait_for: cancelling `stop` would end its wait on the task, and hide the hang.
        done, _ = await asyncio.wait({stopping}, timeout=10)
        assert stopping in done, "stop() still waiting on the reading task"
        assert task.done() and client.made.closed.is_set()
    finally:
        stopping.cancel()
        await client.made.aclose()
