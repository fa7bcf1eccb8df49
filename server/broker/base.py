"""The broker contract: what the status hub needs from a pub/sub backend, and nothing more.

Like encode/broadcaster, the backends are tiny and the fan-out to local waiters is written
once, in the hub. A backend keeps exactly one subscription stream per process and hands
every message of a subscribed channel to its `BrokerListener`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from ssl import SSLContext
from typing import Protocol, TypedDict

STATUS_CHANNEL_PREFIX = "order:status:"
LATEST_KEY_PREFIX = "order:latest:"
LATEST_TTL_SECONDS = 60


def status_channel(order_id: str) -> str:
    """The pub/sub channel an order's status changes are published on."""
    return STATUS_CHANNEL_PREFIX + order_id


def latest_key(order_id: str) -> str:
    """The Redis key holding an order's latest published status, in its channel's slot."""
    # The order's channel name as a hash tag: on a Redis Cluster the key lives in the
    # channel's own slot, so a publish and its latest status go to one master, and a master
    # that is down fails only its own orders' publishes.
    return LATEST_KEY_PREFIX + "{" + status_channel(order_id) + "}"


class PostgresConnect(TypedDict, total=False):
    """asyncpg's connect arguments, for the PostgreSQL broker's own connection (the store's
    DATABASE_URL read by server/store/postgres_url.py); those absent take asyncpg's defaults."""

    host: str
    port: int
    user: str | None
    password: str | None
    database: str | None
    ssl: bool | str | SSLContext  # False, "prefer", "allow", or a context (TLS required)


class BrokerListener(Protocol):
    def deliver(self, channel: str, message: str) -> None:
        """A message arrived on a subscribed channel. Must not block."""

    def resync(self) -> None:
        """The subscription stream was (re-)established: messages may have been missed."""


class BrokerUnavailable(Exception):
    """The broker could not be reached; the database stays the truth (DESIGN rule 1)."""


class Broker(ABC):
    kind: str = "abstract"

    @abstractmethod
    async def connect(self, listener: BrokerListener) -> None:
        """Start the single subscriber stream. Never fails because the broker is down."""

    @abstractmethod
    async def disconnect(self) -> None: ...

    @abstractmethod
    async def subscribe(self, channel: str) -> None:
        """Return once the broker confirms, or at once (degraded) when it is unreachable."""

    @abstractmethod
    async def unsubscribe(self, channel: str) -> None: ...

    @abstractmethod
    async def publish(self, channel: str, message: str, *, latest: str | None = None) -> None:
        """Publish `message`; with `latest`, also cache it under that key for 60 s where
        others can read it (Redis: API.md's `order:latest:{id}`; in-process, nobody can).

        Raises BrokerUnavailable when the broker cannot be reached.
        """

    @abstractmethod
    async def ping(self) -> bool:
        """True when the broker answers and the subscriber stream is up."""

    @property
    def reconnects(self) -> int:
        return 0
