"""One subscriber connection to one Redis server: the stream a Redis broker listens on.

The stream is owned by one task. When its server drops, that task reconnects with capped,
jittered backoff, subscribes again to every live channel, and tells the listener to resync,
because whatever was published meanwhile is gone (DESIGN rule 1). A plain Redis has one such
stream per process (`redis.py`); a Redis Cluster has one per shard (`cluster.py`), speaking
sharded pub/sub (SSUBSCRIBE), where a stream is told which channels to move when its shard's
slots go elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import redis.asyncio as aioredis

from server.broker.base import BrokerListener
from server.broker.redis_health import RedisHealth

log = logging.getLogger("server.broker")

# Seconds `stop` waits for the reading task after each way of ending it.
STOP_GRACE = 2.0

# A command on the subscriber connection while it is being torn down (Redis killed, a
# reconnect under way) can fail with anything: redis-py raised AttributeError ('NoneType'
# object has no attribute 'writelines') and RuntimeError there when Redis was killed and
# restarted under waiters (tests/test_redis_flapping.py). All of them mean "dropped": the
# subscriber task reconnects and resubscribes every wanted channel.
DYING = Exception
# The subscriber connection's own commands (connect, PING, SUBSCRIBE writes): off the
# request path, where only the confirmation of a SUBSCRIBE is waited for (RedisHealth).
SUBSCRIBER_TIMEOUT = 5.0
# Channels per SUBSCRIBE when (re)subscribing everything at once. SSUBSCRIBE takes only
# channels of one hash slot, so a sharded stream sends one command per channel (writes only:
# the confirmations are read by the stream's task).
_RESUBSCRIBE_BATCH = 1000


class SubscriberStream:
    def __init__(
        self,
        client: aioredis.Redis,
        listener: BrokerListener,
        health: RedisHealth,
        *,
        name: str = "redis",
        sharded: bool = False,
        reconnect_min: float = 0.1,
        reconnect_max: float = 5.0,
        on_lost: Callable[[SubscriberStream], Awaitable[None]] | None = None,
    ) -> None:
        self.name = name
        self._client = client
        self._listener = listener
        self._health = health
        self._sharded = sharded
        self._message_kind = "smessage" if sharded else "message"
        self._confirm_kind = "ssubscribe" if sharded else "subscribe"
        self._reconnect_min = reconnect_min
        self._reconnect_max = reconnect_max
        # Called after a drop, before reconnecting: the cluster moves channels whose slots
        # another shard now serves.
        self._on_lost = on_lost
        self._pubsub: Any = None
        self._task: asyncio.Task[None] | None = None
        # Channels this process wants here, whether or not Redis currently knows it.
        self.channels: set[str] = set()
        self._confirmations: dict[str, asyncio.Future[None]] = {}
        # SUNSUBSCRIBEs sent and not yet confirmed: any other confirmation is Redis's own.
        self._leaving: dict[str, int] = {}
        self._connected = asyncio.Event()
        self.reconnects = 0

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"redis-subscriber:{self.name}")

    async def wait_connected(self, timeout: float) -> bool:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._connected.wait()
        return self.connected

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            # A read in redis-py can swallow the cancellation: the task stays "cancelling",
            # waiting on a reply that never comes, and a shutdown awaiting it hung for good
            # (seen in a whole test run). Closing the connection under the read ends it.
            done, _ = await asyncio.wait({task}, timeout=STOP_GRACE)
            if not done:
                await self._close_pubsub()
                task.cancel()
                done, _ = await asyncio.wait({task}, timeout=STOP_GRACE)
            if not done:
                log.warning("redis subscriber %s did not stop in time; left to the loop's end", self.name)
        await self._close_pubsub()
        await self._client.aclose()
        self.channels.clear()

    async def subscribe(self, channel: str) -> None:
        self.channels.add(channel)
        pubsub = self._pubsub
        if pubsub is None or not self.connected:
            return
        future = self._confirmations.get(channel)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._confirmations[channel] = future
        try:
            # Written now even to a Redis that does not answer: it takes effect when it does.
            await self._send_subscribe(pubsub, [channel])
            if not self._health.answering():
                return
            async with asyncio.timeout(self._health.timeout):
                await asyncio.shield(future)
        except TimeoutError as exc:
            # Connected but silent: the waiter reads the store, the next ones do not wait.
            self._health.failed("subscribe", exc)
        except DYING as exc:
            # The subscriber task sees the drop too, resubscribes and resyncs the waiter.
            log.debug("subscribe %s met a dropped connection: %r", channel, exc)
            return

    async def unsubscribe(self, channel: str) -> None:
        self.channels.discard(channel)
        pubsub = self._pubsub
        if pubsub is None or not self.connected:
            return
        with contextlib.suppress(DYING):
            if self._sharded:
                self._leaving[channel] = self._leaving.get(channel, 0) + 1
                await pubsub.sunsubscribe(channel)
            else:
                await pubsub.unsubscribe(channel)

    def forget(self, channels: Iterable[str]) -> None:
        """Stop wanting `channels` here without telling Redis (their slots moved away)."""
        self.channels.difference_update(channels)

    async def _send_subscribe(self, pubsub: Any, channels: list[str]) -> None:
        if self._sharded:
            for channel in channels:
                await pubsub.ssubscribe(channel)
        else:
            await pubsub.subscribe(*channels)

    async def _close_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        self._connected.clear()
        for future in self._confirmations.values():
            if not future.done():
                future.set_result(None)
        self._confirmations.clear()
        self._leaving.clear()
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    async def _open_pubsub(self) -> None:
        pubsub: Any = self._client.pubsub()
        try:
            # `ping` makes the connection now, so a dead Redis fails here, not in the loop.
            await pubsub.ping()
            sent: set[str] = set()
            # Until none is left: a channel wanted while these are written (a waiter
            # arriving now) is not written by `subscribe`, which sees no connection yet.
            while fresh := sorted(self.channels - sent):
                for start in range(0, len(fresh), _RESUBSCRIBE_BATCH):
                    await self._send_subscribe(pubsub, fresh[start : start + _RESUBSCRIBE_BATCH])
                sent.update(fresh)
        except BaseException:
            # Its connection goes back to the pool (of one): left to the garbage collector,
            # every later attempt failed with "too many connections" until a collection
            # ran, which kept a restarted shard unheard for half a minute under load.
            with contextlib.suppress(Exception):
                await pubsub.aclose()
            raise
        self._pubsub = pubsub
        self._connected.set()

    async def _run(self) -> None:
        delay = self._reconnect_min
        first = True
        while True:
            try:
                await self._open_pubsub()
                log.info(
                    "redis subscriber %s %s (%d channels)",
                    self.name,
                    "connected" if first else "reconnected",
                    len(self.channels),
                )
                delay = self._reconnect_min
                # Even on the first connection: waiters may have come while Redis was down.
                self._listener.resync()
                first = False
                await self._read_forever()
            except asyncio.CancelledError:
                raise
            except DYING as exc:
                # Whatever it was, the task lives on: a subscriber that died here would
                # leave the process deaf to Redis until a restart.
                if self.connected or first:
                    log.warning("redis subscriber %s lost: %s; reconnecting", self.name, exc or repr(exc))
                await self._close_pubsub()
                self.reconnects += 1
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                delay = min(delay * 2, self._reconnect_max)
                if self._on_lost is not None:
                    with contextlib.suppress(DYING):
                        await self._on_lost(self)

    async def _read_forever(self) -> None:
        pubsub = self._pubsub
        while True:
            message = await pubsub.get_message(timeout=None)
            if message is None:
                continue
            kind = message["type"]
            channel = message["channel"]
            if isinstance(channel, bytes):
                channel = channel.decode()
            if kind == self._message_kind:
                data = message["data"]
                self._listener.deliver(channel, data.decode() if isinstance(data, bytes) else data)
            elif kind == self._confirm_kind:
                future = self._confirmations.pop(channel, None)
                if future is not None and not future.done():
                    future.set_result(None)
            elif kind == "sunsubscribe":
                self._left(channel)

    def _left(self, channel: str) -> None:
        leaving = self._leaving.pop(channel, 0)
        if leaving > 1:
            self._leaving[channel] = leaving - 1
        if not leaving and channel in self.channels:
            # Redis unsubscribed us itself: the channel's slot moved to another shard.
            # Dropping the connection sends every wanted channel through `on_lost`.
            raise ConnectionError(f"shard gave up {channel}: its slot moved")
