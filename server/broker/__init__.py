"""Pub/sub backends behind one contract: in-process by default, Redis with `REDIS_URL`, sharded
pub/sub on a Redis Cluster with `REDIS_CLUSTER=1`, PostgreSQL's LISTEN/NOTIFY when the store is
PostgreSQL and there is no Redis."""

from __future__ import annotations

import typing

from server.broker.base import (
    STATUS_CHANNEL_PREFIX,
    Broker,
    BrokerListener,
    BrokerUnavailable,
    PostgresConnect,
    latest_key,
    status_channel,
)
from server.broker.memory import MemoryBroker
from server.broker.redis_health import RedisHealth

if typing.TYPE_CHECKING:
    from server.broker.redis_down import REDIS_DOWN


def create_broker(
    redis_url: str | None,
    health: RedisHealth | None = None,
    *,
    cluster: bool = False,
    postgres: PostgresConnect | None = None,
) -> Broker:
    """The broker the settings choose: Redis when there is a URL (sharded pub/sub on a
    cluster); else PostgreSQL's LISTEN/NOTIFY when given its connect arguments (asyncpg's);
    else in-process. The Redis modules are imported only when one is used."""
    if not redis_url:
        if postgres is not None:
            from server.broker.postgres_broker import PostgresBroker

            return PostgresBroker(postgres)
        return MemoryBroker()
    if cluster:
        from server.broker.cluster import RedisClusterBroker

        return RedisClusterBroker(redis_url, health=health)
    from server.broker.redis_broker import RedisBroker

    return RedisBroker(redis_url, health=health)


def __getattr__(name: str) -> object:
    """`REDIS_DOWN` on first use (PEP 562): it names redis-py's exceptions, and a process
    without Redis (the default) would load redis-py for it alone, ~55 ms of CPU a start."""
    if name == "REDIS_DOWN":
        from server.broker.redis_down import REDIS_DOWN

        return REDIS_DOWN
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "REDIS_DOWN",
    "STATUS_CHANNEL_PREFIX",
    "Broker",
    "BrokerListener",
    "BrokerUnavailable",
    "MemoryBroker",
    "PostgresConnect",
    "RedisHealth",
    "create_broker",
    "latest_key",
    "status_channel",
]
