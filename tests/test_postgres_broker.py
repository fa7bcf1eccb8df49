"""Issue 19: PostgreSQL's LISTEN/NOTIFY as the broker between processes without Redis.
The shared contract is tests/test_broker_contract.py; here what only a networked broker has:
another process hears a change, and a dropped listening connection is re-established and
followed by a resync (the store is the truth, DESIGN rule 1)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from server.broker import BrokerUnavailable, create_broker, status_channel
from server.broker.postgres_broker import PostgresBroker
from server.store.postgres_url import postgres_target
from tests.backends import PostgresDatabases
from tests.helpers import Collector


class Listener(Collector):
    def __init__(self) -> None:
        super().__init__()
        self.resynced = asyncio.Event()

    def resync(self) -> None:
        super().resync()
        self.resynced.set()


@pytest.fixture
def database_url(postgres: PostgresDatabases) -> str:
    return postgres.new_url()


@pytest.fixture
async def two_processes(
    database_url: str,
) -> AsyncIterator[tuple[PostgresBroker, Listener, PostgresBroker, Listener]]:
    kwargs = postgres_target(database_url).connect_kwargs()
    first, second = PostgresBroker(kwargs, reconnect_min=0.05), PostgresBroker(kwargs, reconnect_min=0.05)
    heard_first, heard_second = Listener(), Listener()
    await first.connect(heard_first)
    await second.connect(heard_second)
    yield first, heard_first, second, heard_second
    await first.disconnect()
    await second.disconnect()


def test_without_redis_a_postgres_store_gets_the_postgres_broker() -> None:
    broker = create_broker(None, postgres={"host": "127.0.0.1"})
    assert broker.kind == "postgres"
    assert create_broker(None).kind == "memory"


async def test_a_change_published_in_one_process_reaches_another(
    two_processes: tuple[PostgresBroker, Listener, PostgresBroker, Listener],
) -> None:
    first, _, second, heard = two_processes
    channel = status_channel(uuid.uuid4().hex)
    await second.subscribe(channel)
    await first.publish(channel, '{"status":"completed","version":3}')
    assert await asyncio.wait_for(heard.messages.get(), 5) == (channel, '{"status":"completed","version":3}')


async def test_a_dropped_listening_connection_comes_back_and_resyncs(
    two_processes: tuple[PostgresBroker, Listener, PostgresBroker, Listener], database_url: str
) -> None:
    first, heard_first, second, heard = two_processes
    channel = status_channel(uuid.uuid4().hex)
    await second.subscribe(channel)
    target = postgres_target(database_url)
    admin = await asyncpg.connect(**target.connect_kwargs())
    try:
        # Every other backend of this test's own database: both brokers' listening connections.
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await admin.close()
    await asyncio.wait_for(heard.resynced.wait(), 10)
    await asyncio.wait_for(heard_first.resynced.wait(), 10)  # the publisher is back too
    assert second.reconnects >= 1 and first.reconnects >= 1
    await first.publish(channel, "after")
    assert await asyncio.wait_for(heard.messages.get(), 5) == (channel, "after")


async def test_a_message_over_notifys_limit_is_refused_not_cut(
    two_processes: tuple[PostgresBroker, Listener, PostgresBroker, Listener],
) -> None:
    first, *_ = two_processes
    with pytest.raises(BrokerUnavailable, match="over NOTIFY's limit"):
        await first.publish(status_channel("x"), "x" * 8000)


async def test_an_unreachable_database_leaves_the_broker_degraded_not_failed() -> None:
    from tests.backends import free_port

    broker = PostgresBroker({"host": "127.0.0.1", "port": free_port(), "user": "postgres"})
    await broker.connect(Listener())
    try:
        assert not await broker.ping()
        with pytest.raises(BrokerUnavailable):
            await broker.publish(status_channel("x"), "doc")
    finally:
        await broker.disconnect()


async def test_messages_published_while_a_notify_is_on_the_wire_all_arrive_in_order(
    two_processes: tuple[PostgresBroker, Listener, PostgresBroker, Listener],
) -> None:
    # Publishes that queue behind a NOTIFY go together in the next one: none may be lost or
    # reordered on the way (a waiter keeps only a newer version, but the log reads in order).
    first, _, second, heard = two_processes
    channel = status_channel(uuid.uuid4().hex)
    await second.subscribe(channel)
    async with first._lock:  # a NOTIFY on the wire
        publishing = [asyncio.create_task(first.publish(channel, f"v{n}")) for n in range(20)]
        await asyncio.sleep(0)  # every one queued behind it
        assert not any(task.done() for task in publishing)
    await asyncio.gather(*publishing)
    received = [await asyncio.wait_for(heard.messages.get(), 5) for _ in range(20)]
    assert received == [(channel, f"v{n}") for n in range(20)]


async def test_a_batch_that_cannot_go_fails_every_publisher_in_it(
    two_processes: tuple[PostgresBroker, Listener, PostgresBroker, Listener], database_url: str
) -> None:
    first, *_ = two_processes
    channel = status_channel(uuid.uuid4().hex)
    admin = await asyncpg.connect(**postgres_target(database_url).connect_kwargs())
    try:
        async with first._lock:
            publishing = [asyncio.create_task(first.publish(channel, f"v{n}")) for n in range(5)]
            await asyncio.sleep(0)
            # The publisher's connection dies while they wait for it.
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        outcomes = await asyncio.wait_for(asyncio.gather(*publishing, return_exceptions=True), 10)
    finally:
        await admin.close()
    assert all(isinstance(outcome, BrokerUnavailable) for outcome in outcomes), outcomes


async def test_a_message_with_a_nul_is_refused_alone(
    two_processes: tuple[PostgresBroker, Listener, PostgresBroker, Listener],
) -> None:
    first, _, second, heard = two_processes
    channel = status_channel(uuid.uuid4().hex)
    await second.subscribe(channel)
    with pytest.raises(BrokerUnavailable, match="NUL"):
        await first.publish(channel, "bad\x00")
    await first.publish(channel, "good")
    assert await asyncio.wait_for(heard.messages.get(), 5) == (channel, "good")
