"""Redis Cluster broker: sharded pub/sub, one subscriber connection per shard per process.

A status channel lives on the shard that serves its hash slot: SPUBLISH sends a message to
that shard only, and this process keeps one SSUBSCRIBE connection to each master that serves
a channel it wants (`SubscriberStream`, sharded), so connections grow with the shards, never
with the waiters (DESIGN rule 4). Publishing, the latest-status keys and the health verdict
are the plain Redis broker's (`redis.py`), through redis-py's cluster client, which follows
MOVED redirections; each master is judged on its own, so one down (even the one REDIS_URL
names) fails only its own channels, and a publish it drops makes this process re-read the
slot map (after a failover another master serves its slots).

When a shard's connection drops (its master stopped, a failover, a slot moved away: Redis
7 then unsubscribes the channel itself), its stream asks here, before reconnecting, where
each of its channels lives now: channels another master serves move to that master's
stream, and every stream that reconnects tells the hub to resync from the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from server.broker.base import BrokerListener, BrokerUnavailable
from server.broker.redis_broker import RedisBroker, client_options
from server.broker.redis_down import REDIS_DOWN
from server.broker.redis_health import RedisHealth
from server.broker.stream import SUBSCRIBER_TIMEOUT, SubscriberStream

log = logging.getLogger("server.broker")

# Asking the slot map for a channel's master: no map yet, or its slot has none.
_NO_OWNER: tuple[type[Exception], ...] = (*REDIS_DOWN, IndexError)


class RedisClusterBroker(RedisBroker):
    kind = "redis-cluster"
    publish_command = "spublish"

    def __init__(self, url: str, **options: Any) -> None:
        super().__init__(url, **options)
        # One stream per master ("host:port") serving a channel this process wants.
        self._streams: dict[str, SubscriberStream] = {}
        # Where each wanted channel is subscribed, so an unsubscribe finds it after a move.
        self._home: dict[str, str] = {}
        self._retiring: set[asyncio.Task[None]] = set()
        # Wanted channels whose slot no master served when they were subscribed.
        self._homeless: set[str] = set()
        self._placer: asyncio.Task[None] | None = None
        # Re-reads the slot map after a master failed a publish, at most once per cool-off.
        self._refresher: asyncio.Task[None] | None = None
        # A verdict per master for publishing, subscribing and pinging: one master down
        # must not make the others skipped. `self.health` is the push limits' verdict
        # (their keys live on one master), which ping also honours.
        self._shard_health: dict[str, RedisHealth] = {}

    @property
    def reconnects(self) -> int:
        return sum(stream.reconnects for stream in self._streams.values())

    @property
    def connected(self) -> bool:
        # Streams left with no channel (their slots moved) do not count.
        return self._client is not None and all(s.connected for s in self._streams.values() if s.channels)

    @property
    def shards(self) -> list[str]:
        """The masters this process holds a subscriber connection to (tests and /metrics)."""
        return sorted(self._streams)

    async def connect(self, listener: BrokerListener) -> None:
        self._listener = listener
        self._client = RedisCluster.from_url(
            self._url,
            max_connections=self._max_connections,
            # With a master down and no replica to promote, its slots are uncovered: the
            # other shards must go on serving theirs.
            require_full_coverage=False,
            # No retries in the library: on a dropped connection its pipeline closes every
            # master's connections (in-flight publishes to healthy masters too), sleeps
            # 0.25 s and re-reads the slot map, and then runs COMMAND on its default
            # node (the first slots' master): with that one dead, every publish on every
            # master failed. `_send` retries once itself, on that master only.
            **client_options(self.client_name, retries=0, timeout=self.health.timeout),
        )
        try:
            await self._client.initialize()
        except REDIS_DOWN as exc:
            # The first command initialises it again; meanwhile the store answers.
            log.warning("redis cluster unreachable at start (%s)", exc)
            self.warn_unreachable()
        listener.resync()

    async def disconnect(self) -> None:
        for task in (self._placer, self._refresher):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._placer = self._refresher = None
        self._homeless.clear()
        for retiring in list(self._retiring):
            with contextlib.suppress(Exception):
                await retiring
        streams, self._streams = list(self._streams.values()), {}
        for stream in streams:
            await stream.stop()
        self._home.clear()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def subscribe(self, channel: str) -> None:
        node = self._owner(channel)
        if node is None:
            # No master serves its slot now (one is down, no replica took over): the waiter
            # reads the store, and `_place_homeless` subscribes it once a master does.
            self._homeless.add(channel)
            if self._placer is None or self._placer.done():
                self._placer = asyncio.create_task(self._place_homeless(), name="redis-cluster-placer")
            return
        self._home[channel] = node
        fresh = node not in self._streams
        stream = self._stream_for(node)
        if fresh:
            # The first channel on a shard: its connection is made now, and the hub reads
            # the store only after this returns (DESIGN rule 2), so wait for it (bounded).
            await stream.wait_connected(self.health.timeout)
        await stream.subscribe(channel)

    async def unsubscribe(self, channel: str) -> None:
        self._homeless.discard(channel)
        node = self._home.pop(channel, None)
        stream = self._streams.get(node) if node is not None else None
        if stream is not None:
            await stream.unsubscribe(channel)

    async def publish(self, channel: str, message: str, *, latest: str | None = None) -> None:
        node = self._owner(channel)
        if node is None:
            # Unreachable at start, or no master serves its slot: ask the cluster again.
            self._refresh_soon()
            raise BrokerUnavailable("no redis master serves this channel's slot")
        # Judged per master: one down or hung makes its own channels skip it for the
        # cool-off, while the other masters go on carrying theirs.
        await self._publish_judged(self._health_of(node), f"publish to {node}", channel, message, latest)

    async def _send(self, channel: str, message: str, latest: str | None) -> None:
        for last in (False, True):
            try:
                await super()._send(channel, message, latest)
                return
            except (RedisConnectionError, RedisTimeoutError) as exc:
                await self._master_failed(channel)
                # A dropped connection once more, on a fresh one: a master killed and
                # back between two publishes left its idle connections dead. One that is
                # still down refuses it at once; a timeout is not retried (twice the wait).
                if last or isinstance(exc, RedisTimeoutError):
                    raise

    async def _master_failed(self, channel: str) -> None:
        """The channel's master dropped a publish: fresh connections to it next time, and
        a fresh slot map (after a failover another master serves its slots)."""
        assert self._client is not None
        with contextlib.suppress(*_NO_OWNER):
            node: ClusterNode = self._client.get_node_from_key(channel)
            node.update_active_connections_for_reconnect()
            await node.disconnect_free_connections()
            # Last in the client's list: when it re-reads the slot map it takes the first
            # master as its default node and runs COMMAND there.
            self._client.nodes_manager.move_node_to_end_of_cached_nodes(node.name)
        self._refresh_soon()

    def _refresh_soon(self) -> None:
        if self._refresher is None or self._refresher.done():
            self._refresher = asyncio.create_task(self._refresh_and_rest(), name="redis-cluster-slots")

    async def _refresh_and_rest(self) -> None:
        await self._refresh_slots()
        # Failures meanwhile ask no new refresh: one master down fails every publish to
        # it, and each refresh makes the client reconnect to every master.
        await asyncio.sleep(self.health.cool_off)

    def _health_of(self, node: str) -> RedisHealth:
        health = self._shard_health.get(node)
        if health is None:
            health = self._shard_health[node] = RedisHealth(self.health.timeout)
        return health

    async def _ping(self) -> bool:
        # Each master on its own connection pool, judged by its own verdict: through the
        # cluster client, a failed PING made it re-read the slot map before its next command.
        masters = self._client.get_primaries()
        if not masters:
            # No slot map yet (the cluster was unreachable at start): try to read one.
            self._refresh_soon()
            return False
        return all(await asyncio.gather(*(self._ping_master(node) for node in masters)))

    async def _ping_master(self, node: ClusterNode) -> bool:
        health = self._health_of(node.name)
        if not health.answering():
            return False
        try:
            answer = await node.execute_command("PING")
        except REDIS_DOWN as exc:
            health.failed(f"ping {node.name}", exc)
            return False
        self._answered(health)
        return bool(answer)

    def _owner(self, channel: str) -> str | None:
        if self._client is None:
            return None
        try:
            node = self._client.get_node_from_key(channel)
        except _NO_OWNER:
            return None
        return None if node is None else str(node.name)

    def _stream_for(self, node: str) -> SubscriberStream:
        stream = self._streams.get(node)
        if stream is None:
            host, _, port = node.rpartition(":")
            client = aioredis.Redis(
                host=host,
                port=int(port),
                max_connections=1,
                **client_options(self.client_name, retries=0, timeout=SUBSCRIBER_TIMEOUT),
            )
            stream = self.new_stream(
                client, node, sharded=True, health=self._health_of(node), on_lost=self._rehome
            )
            self._streams[node] = stream
        return stream

    async def _refresh_slots(self) -> None:
        assert self._client is not None
        # Bounded: it asks the known nodes in turn, and a hung one must not hold up the
        # reconnection of a shard that is back.
        with contextlib.suppress(*REDIS_DOWN):
            async with asyncio.timeout(2 * self.health.timeout):
                await self._client.nodes_manager.initialize()

    async def _place(self, owner: str, channels: list[str]) -> None:
        stream = self._stream_for(owner)
        for channel in channels:
            self._home[channel] = owner
            await stream.subscribe(channel)

    async def _place_homeless(self) -> None:
        delay = self._reconnect_min
        while self._homeless and self._client is not None:
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._reconnect_max)
            await self._refresh_slots()
            placed: dict[str, list[str]] = {}
            for channel in self._homeless:
                owner = self._owner(channel)
                if owner is not None:
                    placed.setdefault(owner, []).append(channel)
            for owner, channels in placed.items():
                self._homeless.difference_update(channels)
                await self._place(owner, channels)
            if placed:
                # Published while they had no home: read them from the store.
                assert self._listener is not None
                self._listener.resync()

    async def _rehome(self, lost: SubscriberStream) -> None:
        """Before `lost` reconnects: move its channels to the masters that serve them now."""
        assert self._client is not None
        # A fresh slot map: after a failover another master serves this shard's slots.
        await self._refresh_slots()
        moved: dict[str, list[str]] = {}
        for channel in lost.channels:
            owner = self._owner(channel)
            if owner is not None and owner != lost.name:
                moved.setdefault(owner, []).append(channel)
        for owner, channels in moved.items():
            lost.forget(channels)
            log.info("redis cluster: %d channels move from %s to %s", len(channels), lost.name, owner)
            await self._place(owner, channels)
        if not lost.channels and self._client.get_node(node_name=lost.name) is None:
            # Gone from the cluster and nothing left to listen for there: stopped from a
            # task of its own, since this runs inside the stream's task.
            self._streams.pop(lost.name, None)
            retire = asyncio.create_task(lost.stop())
            self._retiring.add(retire)
            retire.add_done_callback(self._retiring.discard)
