"""One contract, four backends: what the hub relies on from any broker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from server.broker import Broker, MemoryBroker, latest_key, status_channel
from server.broker.cluster import RedisClusterBroker
from server.broker.postgres_broker import PostgresBroker
from server.broker.redis_broker import RedisBroker
from server.store.postgres_url import postgres_target
from tests.helpers import Collector


@pytest.fixture(
    params=[
        "memory",
        "redis",
        pytest.param("cluster", marks=pytest.mark.xdist_group("redis-cluster")),
        "postgres",
    ]
)
async def broker(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Broker, Collector]]:
    backend: Broker
    if request.param == "redis":
        backend = RedisBroker(request.getfixturevalue("redis_url"))
    elif request.param == "cluster":
        backend = RedisClusterBroker(request.getfixturevalue("redis_cluster").url)
    elif request.param == "postgres":
        url = request.getfixturevalue("postgres").new_url()
        backend = PostgresBroker(postgres_target(url).connect_kwargs())
    else:
        backend = MemoryBroker()
    collector = Collector()
    await backend.connect(collector)
    yield backend, collector
    await backend.disconnect()


def channel() -> str:
    # Random order ids keep concurrent runs on one Redis apart.
    return status_channel(uuid.uuid4().hex)


async def test_a_subscribed_channel_receives_what_is_published(broker: tuple[Broker, Collector]) -> None:
    backend, collector = broker
    name = channel()
    await backend.subscribe(name)
    await backend.publish(name, '{"v": 1}')
    assert await asyncio.wait_for(collector.messages.get(), 5) == (name, '{"v": 1}')


async def test_other_and_unsubscribed_channels_are_not_delivered(broker: tuple[Broker, Collector]) -> None:
    backend, collector = broker
    kept, left, never = channel(), channel(), channel()
    await backend.subscribe(kept)
    await backend.subscribe(left)
    await backend.unsubscribe(left)
    await backend.publish(never, "never")
    await backend.publish(left, "left")
    await backend.publish(kept, "kept")
    # Messages on one connection arrive in order: once "kept" is here, the others would be too.
    assert await asyncio.wait_for(collector.messages.get(), 5) == (kept, "kept")
    assert collector.messages.empty()


@pytest.mark.parametrize(
    "kind", ["redis", pytest.param("cluster", marks=pytest.mark.xdist_group("redis-cluster"))]
)
async def test_publish_leaves_the_latest_status_where_other_processes_read_it(
    kind: str, request: pytest.FixtureRequest
) -> None:
    """API.md's `order:latest:{id}` key: read by whoever holds the Redis, not by the service
    (the in-process broker keeps none: nobody else could read it)."""
    import redis.asyncio as aioredis
    from redis.asyncio.cluster import RedisCluster

    backend: Broker
    reader: aioredis.Redis | RedisCluster
    if kind == "redis":
        url = request.getfixturevalue("redis_url")
        backend, reader = RedisBroker(url), aioredis.from_url(url)
    else:
        url = request.getfixturevalue("redis_cluster").url
        backend, reader = RedisClusterBroker(url), RedisCluster.from_url(url)
    await backend.connect(Collector())
    order_id = uuid.uuid4().hex
    key = latest_key(order_id)
    try:
        assert await reader.get(key) is None
        await backend.publish(status_channel(order_id), "first", latest=key)
        await backend.publish(status_channel(order_id), "second", latest=key)
        assert await reader.get(key) == b"second"
    finally:
        await reader.aclose()
        await backend.disconnect()


async def test_the_latest_cache_expires_after_60_seconds(redis_url: str) -> None:
    import redis.asyncio as aioredis

    backend = RedisBroker(redis_url)
    await backend.connect(Collector())
    key = latest_key(uuid.uuid4().hex)
    try:
        await backend.publish(channel(), "doc", latest=key)
        client = aioredis.from_url(redis_url)
        ttl = await client.ttl(key)
        await client.aclose()
        assert 0 < ttl <= 60
    finally:
        await backend.disconnect()


async def test_ping_reports_a_live_broker(broker: tuple[Broker, Collector]) -> None:
    backend, _ = broker
    assert await backend.ping()
