"""Faults made real: Redis stopped and started, a locked SQLite, a PostgreSQL restarted under
load, too many waiters, streams that outlive their welcome, and a client that stops reading."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from server.broker.redis_broker import RedisBroker
from server.settings import Settings
from server.store.tables import payhero_callbacks
from server.transitions.change import Change
from tests.backends import OwnRedis
from tests.helpers import SSEReader
from tests.local_http import local_client
from tests.payhero_fixtures import ORDER, TOKEN, sandbox_callback
from tests.pg_cluster import OwnPostgres
from tests.server_harness import run_server, until

CALLBACK = f"/api/payhero/callback/{TOKEN}"


@pytest.mark.waits
async def test_redis_down_at_start_and_mid_run(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    own = OwnRedis(tmp_path)  # not started: Redis is down when the service starts
    base = make_settings(
        "sqlite", "memory", sandbox_delay=600.0, callback_token=TOKEN, safety_net_interval=0.2
    )
    settings = base.with_overrides(redis_url=own.url)
    try:
        # Two processes' worth of service on one store and one Redis: waiters on A, callbacks to B.
        async with run_server(settings) as a, run_server(settings) as b:
            async with (
                local_client(a.base_url, timeout=30) as http_a,
                local_client(b.base_url, timeout=30) as http_b,
            ):
                ready = (await http_a.get("/readyz")).json()
                assert ready["broker"] == "degraded" and ready["database"] == "ok"

                order = (await http_b.post("/api/orders", json={**ORDER, "phone": "0712349999"})).json()
                wait = asyncio.create_task(http_a.get(order["wait_url"], params={"since": 2}))
                await until(lambda: a.services.hub.watch_count == 1)
                callback = await http_b.post(CALLBACK, json=sandbox_callback(order, "cancelled"))
                assert callback.status_code == 200  # committed although Redis is down
                assert (await wait).json()["payment_status"] == "cancelled"  # via the store

                own.start()
                broker_a, broker_b = a.services.broker, b.services.broker
                assert isinstance(broker_a, RedisBroker) and isinstance(broker_b, RedisBroker)
                await until(lambda: broker_a.connected and broker_b.connected, timeout=30)
                assert (await http_a.get("/readyz")).json()["broker"] == "ok"

                # Redis dies mid-run: callbacks still commit, waiters still get their answer.
                second = (await http_b.post("/api/orders", json={**ORDER, "phone": "0712349999"})).json()
                wait = asyncio.create_task(http_a.get(second["wait_url"], params={"since": 2}))
                await until(lambda: a.services.hub.watch_count == 1)
                own.stop()
                await until(lambda: not broker_b.connected)
                assert (await http_b.post(CALLBACK, json=sandbox_callback(second))).status_code == 200
                assert (await wait).json()["payment_status"] == "completed"
                assert (await http_a.get("/readyz")).json()["broker"] == "degraded"

                own.start()
                await until(lambda: broker_a.connected and broker_b.connected, timeout=30)
                assert broker_a.reconnects >= 1 and broker_b.reconnects >= 1
    finally:
        own.stop()


async def test_a_locked_sqlite_answers_503_and_acknowledges_no_callback(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings(
        "sqlite", "memory", sandbox_delay=600.0, callback_token=TOKEN, sqlite_busy_timeout=0.3
    )
    async with run_server(settings) as live, local_client(live.base_url, timeout=30) as http:
        order = (await http.post("/api/orders", json={**ORDER, "phone": "0712349999"})).json()
        path = settings.database_url.split("///", 1)[1]
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock past the busy timeout
        try:
            refused = await http.post("/api/orders", json=ORDER)
            callback = await http.post(CALLBACK, json=sandbox_callback(order))
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        for response in (refused, callback):
            assert response.status_code == 503
            assert response.json()["error"] == "store_unavailable"
            assert response.headers["retry-after"] == "2"
        count = sa.select(sa.func.count()).select_from(payhero_callbacks)
        assert await live.services.database.fetch_val(count) == 0
        # PayHero retries; now it is stored and applied.
        retried = await http.post(CALLBACK, json=sandbox_callback(order))
        assert retried.status_code == 200 and retried.json()["payment_status"] == "completed"


async def test_postgres_restarted_under_load_gives_json_503s_then_recovers(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    pg = OwnPostgres(tmp_path)
    pg.start()
    try:
        settings = make_settings("sqlite", "memory", sandbox_delay=600.0, callback_token=TOKEN)
        settings = settings.with_overrides(
            database_url=pg.url.replace("postgresql://", "postgresql+asyncpg://")
        )
        async with (
            run_server(settings) as live,
            local_client(live.base_url, timeout=30) as http,
        ):
            order = (await http.post("/api/orders", json={**ORDER, "phone": "0712349999"})).json()
            statuses: list[int] = []
            acknowledged = 0
            stop = asyncio.Event()

            async def load() -> None:
                nonlocal acknowledged
                while not stop.is_set():
                    for response in await asyncio.gather(
                        http.get(f"/api/orders/{order['order_id']}"),
                        http.post(CALLBACK, json=sandbox_callback(order, "cancelled")),
                    ):
                        statuses.append(response.status_code)
                        assert response.headers["content-type"].startswith("application/json")
                        if response.status_code == 503:
                            assert response.headers["retry-after"]
                        elif response.status_code == 200 and response.request.method == "POST":
                            acknowledged += 1

            runner = asyncio.create_task(load())
            await until(lambda: len(statuses) > 20)
            await asyncio.to_thread(pg.stop)
            await until(lambda: 503 in statuses)
            await asyncio.to_thread(pg.start)
            # Recovered: the next requests succeed again.
            await until(lambda: statuses[-4:] == [200, 200, 200, 200], timeout=30)
            stop.set()
            await runner
            assert set(statuses) <= {200, 503}
            stored = await live.services.database.fetch_val(
                sa.select(sa.func.count()).select_from(payhero_callbacks)
            )
            assert stored >= acknowledged  # every 2xx callback is in the inbox
    finally:
        with contextlib.suppress(Exception):
            pg.stop()
        pg.remove()


async def test_waiter_caps_answer_503_with_retry_after(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings("sqlite", "memory", sandbox_delay=600.0, max_waiters=3, max_waiters_per_order=2)
    async with run_server(settings) as live, local_client(live.base_url, timeout=30) as http:
        one = (await http.post("/api/orders", json={**ORDER, "phone": "0712349999"})).json()
        two = (await http.post("/api/orders", json={**ORDER, "phone": "0712349999"})).json()
        held = [asyncio.create_task(http.get(one["wait_url"], params={"since": 2})) for _ in range(2)]
        await until(lambda: live.services.hub.watch_count == 2)
        per_order = await http.get(one["wait_url"], params={"since": 2})
        assert per_order.status_code == 503 and per_order.headers["retry-after"] == "5"
        held.append(asyncio.create_task(http.get(two["wait_url"], params={"since": 2})))
        await until(lambda: live.services.hub.watch_count == 3)
        total = await http.get(two["events_url"])
        assert total.status_code == 503 and total.json()["error"] == "unavailable"
        for task in held:
            task.cancel()
        await asyncio.gather(*held, return_exceptions=True)


async def test_a_stream_ends_at_its_maximum_lifetime_and_resumes(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings("sqlite", "memory", sandbox_delay=600.0, sse_max_lifetime=0.5)
    async with run_server(settings) as live, local_client(live.base_url, timeout=30) as http:
        order = (await http.post("/api/orders", json={**ORDER, "phone": "0712349999"})).json()
        async with http.stream("GET", order["events_url"]) as response:
            sse = SSEReader(response)
            first = await sse.next_event()
            assert first is not None and first["id"] == "2"
            assert await sse.next_event() is None  # the server ended it
        headers = {"Last-Event-ID": "2"}
        async with http.stream("GET", order["events_url"], headers=headers) as response:
            assert response.status_code == 200  # the browser reconnects and carries on


@pytest.mark.waits
async def test_a_client_that_stops_reading_is_dropped_without_hurting_others(
    make_settings: Callable[..., Settings],
) -> None:
    # Frequent keep-alive comments and a small kernel send buffer (as a busy server would have)
    # fill a stalled client's buffers within seconds, instead of the minutes that Linux's
    # autotuned 4 MB send buffer would take.
    settings = make_settings(
        "sqlite", "memory", sandbox_delay=600.0, sse_ping_interval=0.001, sse_send_timeout=0.5
    )
    async with (
        run_server(settings, send_buffer=16384) as live,
        local_client(live.base_url, timeout=30) as http,
    ):
        order = (await http.post("/api/orders", json={**ORDER, "phone": "0712349999"})).json()
        host, port = live.base_url.removeprefix("http://").split(":")
        stalled = socket.socket()
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.connect((host, int(port)))
        stalled.sendall(f"GET {order['events_url']} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        await until(lambda: live.services.hub.watch_count == 1)
        async with http.stream("GET", order["events_url"]) as response:
            healthy = SSEReader(response)
            assert await healthy.next_event() is not None
            # The stalled stream is torn down by the send timeout; the healthy one stays.
            await until(lambda: live.services.hub.watch_count == 1, timeout=60)
            await live.services.changes.apply(order["order_id"], Change("cancelled", source="test"))
            event = await healthy.next_event()
            assert event is not None and event["data"]["payment_status"] == "cancelled"
        stalled.close()
