"""A callback the store refused before storing it is kept on disk and applied once the store
answers, without PayHero sending it again (it documents no retry): by the service's own next
pass, and by the next start of a process that stopped with it still kept."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from server.lifecycle import TERMINAL
from server.payments.spool import CLAIM_STALE_AFTER, SPOOL_DIR, CallbackSpool
from server.settings import Settings
from server.store import StoreUnavailable
from server.store.tables import payhero_callbacks
from tests.local_http import local_client
from tests.payhero_fixtures import ORDER, TOKEN, sandbox_callback
from tests.pg_cluster import OwnPostgres
from tests.server_harness import RunningServer, run_server
from tests.test_metrics import scrape, value

CALLBACK = f"/api/payhero/callback/{TOKEN}"


@contextmanager
def store_locked(settings: Settings) -> Iterator[None]:
    """Another writer holds the SQLite file past the service's busy timeout."""
    blocker = sqlite3.connect(settings.database_url.split("///", 1)[1], isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()


def lockable_shop(make_settings: Callable[..., Settings], *, expiry_every: float) -> Settings:
    """SQLite that gives up on a lock in 0.3 s, no sandbox callback of its own."""
    return make_settings(
        "sqlite",
        "memory",
        sandbox_delay=600.0,
        callback_token=TOKEN,
        sqlite_busy_timeout=0.3,
        expiry_check_interval=expiry_every,
    )


async def settled(http: httpx.AsyncClient, order: dict[str, Any]) -> dict[str, Any]:
    """The order's status once final, read with the status page's own long poll."""
    document = order
    while document["payment_status"] not in TERMINAL:
        answer = await http.get(order["wait_url"], params={"since": document["version"]})
        document = answer.json()
    return document


async def refused_and_kept(
    live: RunningServer, http: httpx.AsyncClient, settings: Settings
) -> dict[str, Any]:
    """A checkout, then PayHero's success for it while the store is locked: 503, kept."""
    order = (await http.post("/api/orders", json={**ORDER, "phone": "0712349999"})).json()
    with store_locked(settings):
        refused = await http.post(CALLBACK, json=sandbox_callback(order))
        assert refused.status_code == 503 and refused.json()["error"] == "store_unavailable"
        # Kept, or claimed by a pass that found the store still locked (and will give it back).
        assert len(list((settings.data_dir / SPOOL_DIR).glob("*.callback*"))) == 1
    return order


async def test_a_refused_callback_is_applied_by_the_next_pass_without_payhero_sending_it_again(
    make_settings: Callable[..., Settings],
) -> None:
    settings = lockable_shop(make_settings, expiry_every=0.2)
    async with run_server(settings) as live, local_client(live.base_url, timeout=30) as http:
        order = await refused_and_kept(live, http, settings)
        document = await asyncio.wait_for(settled(http, order), 30)
        assert document["payment_status"] == "completed"
        rows = await live.services.database.fetch_all(sa.select(payhero_callbacks.c.outcome))
        assert [row["outcome"] for row in rows] == ["applied"]
        assert list((settings.data_dir / SPOOL_DIR).glob("*")) == []
        assert value(await scrape(http), "payment_status_callbacks_kept_on_disk") == 0
        assert (
            value(await scrape(http), "payment_status_callbacks_total", result="unstored", outcome="spooled")
            == 1
        )


async def test_a_process_stopped_with_a_callback_kept_applies_it_at_its_next_start(
    make_settings: Callable[..., Settings],
) -> None:
    # No expiry pass runs in either life: only the start can apply it.
    settings = lockable_shop(make_settings, expiry_every=600.0)
    async with run_server(settings) as live, local_client(live.base_url, timeout=30) as http:
        order = await refused_and_kept(live, http, settings)
        assert (await http.get(f"/api/orders/{order['order_id']}")).json()["payment_status"] == "processing"
        # Told on /metrics while it waits: money the store has not taken yet.
        assert value(await scrape(http), "payment_status_callbacks_kept_on_disk") == 1
    async with run_server(settings) as live, local_client(live.base_url, timeout=30) as http:
        document = await asyncio.wait_for(settled(http, order), 30)
        assert document["payment_status"] == "completed"
        assert list((settings.data_dir / SPOOL_DIR).glob("*")) == []


async def test_two_replays_of_one_spool_take_each_callback_once(tmp_path: Path) -> None:
    # Two workers on one disk share the folder: a claim is a rename, so one of them wins.
    spool = CallbackSpool(tmp_path / SPOOL_DIR)
    for n in range(6):
        await spool.keep(b"body %d" % n)
    received: list[bytes] = []

    async def receive(body: bytes) -> None:
        await asyncio.sleep(0)  # the other replay runs here
        received.append(body)

    went = await asyncio.gather(spool.replay(receive), CallbackSpool(spool.folder).replay(receive))
    assert sum(went) == 6 and sorted(received) == [b"body %d" % n for n in range(6)]
    assert list(spool.folder.iterdir()) == []


async def test_a_store_still_refusing_leaves_every_callback_kept(tmp_path: Path) -> None:
    spool = CallbackSpool(tmp_path / SPOOL_DIR)
    for n in range(3):
        await spool.keep(b"body %d" % n)

    async def refused(body: bytes) -> None:
        raise StoreUnavailable("still down")

    assert await spool.replay(refused) == 0
    assert [path.read_bytes() for path in spool.waiting()] == [b"body 0", b"body 1", b"body 2"]
    assert all(path.stat().st_mode & 0o777 == 0o600 for path in spool.waiting())


async def test_a_claim_left_by_a_dead_process_is_given_back(tmp_path: Path) -> None:
    spool = CallbackSpool(tmp_path / SPOOL_DIR)
    await spool.keep(b"paid")
    (kept,) = spool.waiting()
    claimed = kept.with_name(kept.name + ".claimed-999999")
    kept.rename(claimed)
    received: list[bytes] = []

    async def receive(body: bytes) -> None:
        received.append(body)

    assert await spool.replay(receive) == 0  # a live claim is another process's business
    long_ago = time.time() - CLAIM_STALE_AFTER - 1
    os.utime(claimed, (long_ago, long_ago))
    assert await spool.replay(receive) == 1 and received == [b"paid"]


async def test_a_kept_callback_that_cannot_be_applied_is_kept_and_the_rest_go_on(tmp_path: Path) -> None:
    # A bug meeting one body must not stop the others, nor the expiry pass that follows.
    spool = CallbackSpool(tmp_path / SPOOL_DIR)
    for body in (b"good 1", b"poison", b"good 2"):
        await spool.keep(body)
    failed: list[str] = []
    spool.on_error = failed.append
    received: list[bytes] = []

    async def receive(body: bytes) -> None:
        if body == b"poison":
            raise RuntimeError("a bug")
        received.append(body)

    assert await spool.replay(receive) == 2
    assert received == [b"good 1", b"good 2"] and failed == ["callback-spool"]
    assert [path.read_bytes() for path in spool.waiting()] == [b"poison"]


async def test_a_disk_that_refuses_too_leaves_the_503_as_it_was(tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_bytes(b"")
    assert await CallbackSpool(blocked / SPOOL_DIR).keep(b"body") is False


async def test_on_postgresql_a_callback_sent_while_the_server_is_down_is_applied_once_it_is_back(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    # The platform's store: a PostgreSQL server of the test's own, stopped and started for real.
    pg = OwnPostgres(tmp_path)
    pg.start()
    try:
        settings = lockable_shop(make_settings, expiry_every=0.5).with_overrides(
            database_url=pg.url.replace("postgresql://", "postgresql+asyncpg://")
        )
        async with run_server(settings) as live, local_client(live.base_url, timeout=30) as http:
            order = (await http.post("/api/orders", json={**ORDER, "phone": "0712349999"})).json()
            await asyncio.to_thread(pg.stop)
            refused = await http.post(CALLBACK, json=sandbox_callback(order))
            assert refused.status_code == 503 and refused.json()["error"] == "store_unavailable"
            assert len(list((settings.data_dir / SPOOL_DIR).glob("*.callback*"))) == 1
            await asyncio.to_thread(pg.start)
            document = await asyncio.wait_for(settled(http, order), 60)
            assert document["payment_status"] == "completed"
            rows = await live.services.database.fetch_all(sa.select(payhero_callbacks.c.outcome))
            assert [row["outcome"] for row in rows] == ["applied"]
    finally:
        with contextlib.suppress(Exception):
            pg.stop()
        pg.remove()
