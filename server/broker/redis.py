"""Redis pub/sub broker: one subscriber connection per process, whatever the waiters.

The subscriber stream is owned by one task. When Redis drops, that task reconnects with
capped, jittered backoff, subscribes again to every live channel in one command, and tells
the listener to resync, because whatever was published meanwhile is gone (DESIGN rule 1).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from server.broker.base import LATEST_TTL_SECONDS, Broker, BrokerListener, BrokerUnavailable
from server.broker.health import RedisHealth

log = logging.getLogger("server.broker")

# A command on the subscriber connection while it is being torn down (Redis killed, a
# reconnect under way) can fail with anything: redis-py raised AttributeError ('NoneType'
# object has no attribute 'writelines') and RuntimeError there when Redis was killed and
# restarted under waiters (tests/test_redis_flapping.py). All of them mean "dropped": the
# subscriber task reconnects and resubscribes every wanted channel.
_DYING = Exception
# The subscriber connection's own commands (connect, PING, SUBSCRIBE writes): off the
# request path, where only the confirmation of a SUBSCRIBE is waited for (RedisHealth).
SUBSCRIBER_TIMEOUT = 5.0
# Channels per SUBSCRIBE when (re)subscribing everything at once.
_RESUBSCRIBE_BATCH = 1000


class RedisBroker(Broker):
    kind = "redis"

    def __init__(
        self,
        url: str,
        *,
        client_name: str | None = None,
        reconnect_min: float = 0.1,
        reconnect_max: float = 5.0,
        max_connections: int = 16,
        health: RedisHealth | None = None,
    ) -> None:
        self.client_name = client_name or f"payment-status:{os.getpid()}:{random.getrandbits(32):08x}"
        self._url = url
        self._reconnect_min = reconnect_min
        self._reconnect_max = reconnect_max
        # Shared with the push limits: a Redis that stops answering is skipped by both.
        self.health = health or RedisHealth()
        self._max_connections = max_connections
        self._client: aioredis.Redis | None = None
        self._subscriber_client: aioredis.Redis | None = None
        self._pubsub: Any = None
        self._listener: BrokerListener | None = None
        self._task: asyncio.Task[None] | None = None
        # Channels this process wants, whether or not Redis currently knows it.
        self._channels: set[str] = set()
        self._confirmations: dict[str, asyncio.Future[None]] = {}
        self._connected = asyncio.Event()
        self._reconnects = 0

    @property
    def reconnects(self) -> int:
        return self._reconnects

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def connect(self, listener: BrokerListener) -> None:
        self._listener = listener
        # Commands retry once: after Redis restarts, the pool's idle connections are dead
        # and the first command on each would fail. The one subscriber connection has no
        # library retries: a drop must surface in `_run`, where it is handled once.
        self._client = self._redis(
            retries=1, max_connections=self._max_connections, timeout=self.health.timeout
        )
        self._subscriber_client = self._redis(retries=0, max_connections=1, timeout=SUBSCRIBER_TIMEOUT)
        self._task = asyncio.create_task(self._run(), name="redis-subscriber")
        # Give a healthy Redis a moment so the service starts subscribed; a dead one
        # must not stop the service from starting (it serves from the store meanwhile).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), timeout=2.0)
        if not self.connected:
            log.warning("redis unreachable at start; serving from the store until it is back")

    def _redis(self, *, retries: int, max_connections: int, timeout: float) -> aioredis.Redis:
        return aioredis.from_url(
            self._url,
            client_name=self.client_name,
            max_connections=max_connections,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            # Retried on a dropped connection only: a timeout retried would double the wait.
            retry=Retry(NoBackoff(), retries, supported_errors=(RedisConnectionError,)),
            health_check_interval=0,
        )

    async def disconnect(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._close_pubsub()
        for client in (self._client, self._subscriber_client):
            if client is not None:
                await client.aclose()
        self._client = self._subscriber_client = None
        self._channels.clear()

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)
        pubsub = self._pubsub
        if pubsub is None or not self.connected:
            return
        future = self._confirmations.get(channel)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._confirmations[channel] = future
        try:
            # Written now even to a Redis that does not answer: it takes effect when it does.
            await pubsub.subscribe(channel)
            if not self.health.answering():
                return
            await asyncio.wait_for(asyncio.shield(future), self.health.timeout)
        except TimeoutError as exc:
            # Connected but silent: the waiter reads the store, the next ones do not wait.
            self.health.failed("subscribe", exc)
        except _DYING as exc:
            # The subscriber task sees the drop too, resubscribes and resyncs the waiter.
            log.debug("subscribe %s met a dropped connection: %r", channel, exc)
            return

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)
        pubsub = self._pubsub
        if pubsub is None or not self.connected:
            return
        with contextlib.suppress(_DYING):
            await pubsub.unsubscribe(channel)

    async def publish(self, channel: str, message: str, *, latest: str | None = None) -> None:
        if self._client is None or not self.connected:
            # Known down: fail at once instead of a connect attempt on the callback's path.
            raise BrokerUnavailable("redis is down")
        if not self.health.answering():
            raise BrokerUnavailable("redis is not answering")
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.publish(channel, message)
                if latest is not None:
                    pipe.set(latest, message, ex=LATEST_TTL_SECONDS)
                await pipe.execute()
        except RedisError as exc:
            self.health.failed("publish", exc)
            raise BrokerUnavailable(str(exc) or type(exc).__name__) from exc
        self._answered()

    async def get_latest(self, key: str) -> str | None:
        if self._client is None:
            return None
        try:
            value = await self._client.get(key)
        except RedisError:
            return None
        return value.decode() if isinstance(value, bytes) else value

    async def ping(self) -> bool:
        if self._client is None or not self.connected or not self.health.answering():
            return False
        try:
            answer = bool(await self._client.ping())
        except RedisError as exc:
            self.health.failed("ping", exc)
            return False
        self._answered()
        return answer

    def _answered(self) -> None:
        if self.health.succeeded() and self._listener is not None:
            # Whatever other processes published while it hung may be lost: re-read.
            self._listener.resync()

    async def _close_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        self._connected.clear()
        for future in self._confirmations.values():
            if not future.done():
                future.set_result(None)
        self._confirmations.clear()
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    async def _open_pubsub(self) -> None:
        assert self._subscriber_client is not None
        pubsub = self._subscriber_client.pubsub()
        # `ping` makes the connection now, so a dead Redis fails here, not in the loop.
        await pubsub.ping()
        channels = sorted(self._channels)
        for start in range(0, len(channels), _RESUBSCRIBE_BATCH):
            await pubsub.subscribe(*channels[start : start + _RESUBSCRIBE_BATCH])
        self._pubsub = pubsub
        self._connected.set()

    async def _run(self) -> None:
        delay = self._reconnect_min
        first = True
        while True:
            try:
                await self._open_pubsub()
                log.info(
                    "redis subscriber %s (%d channels)",
                    "connected" if first else "reconnected",
                    len(self._channels),
                )
                delay = self._reconnect_min
                if self._listener is not None:
                    # Even on the first connection: waiters may have come while Redis was down.
                    self._listener.resync()
                first = False
                await self._read_forever()
            except asyncio.CancelledError:
                raise
            except _DYING as exc:
                # Whatever it was, the task lives on: a subscriber that died here would
                # leave the process deaf to Redis until a restart.
                if self.connected or first:
                    log.warning("redis subscriber lost: %s; reconnecting", exc or repr(exc))
                await self._close_pubsub()
                self._reconnects += 1
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                delay = min(delay * 2, self._reconnect_max)

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
            if kind == "message":
                data = message["data"]
                if self._listener is not None:
                    self._listener.deliver(channel, data.decode() if isinstance(data, bytes) else data)
            elif kind == "subscribe":
                future = self._confirmations.pop(channel, None)
                if future is not None and not future.done():
                    future.set_result(None)
