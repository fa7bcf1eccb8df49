"""A hung PostgreSQL answers 503 in seconds, not a minute (issue 24).

Two real ways to hang it: a table lock another connection holds (the server is fine, the
statement waits), and a TCP proxy between us and the server that stops forwarding (the
server and the network answer nothing at all). Either way every request meets the JSON 503
with `Retry-After` of today, bounded by DATABASE_STATEMENT_TIMEOUT and
DATABASE_ACQUIRE_TIMEOUT, and the service recovers when PostgreSQL does.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest

from server.settings import Settings
from tests.local_http import local_client
from tests.payhero_fixtures import ORDER
from tests.server_harness import run_server

pytestmark = pytest.mark.postgres


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "2"
    assert response.json()["error"] == "store_unavailable"


async def test_a_table_locked_by_another_connection_is_a_503_not_a_wait(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings("postgres", "memory", sandbox_delay=600.0, database_statement_timeout=0.5)
    async with run_server(settings) as live, local_client(live.base_url, timeout=30) as http:
        order = (await http.post("/api/orders", json={**ORDER, "phone": "0712349999"})).json()
        holder = await asyncpg.connect(settings.database_url.replace("+asyncpg", ""))
        try:
            locked = holder.transaction()
            await locked.start()
            await holder.execute("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE")
            assert_unavailable(await http.get(f"/api/orders/{order['order_id']}"))
            assert_unavailable(await http.post("/api/orders", json={**ORDER, "phone": "0712349999"}))
            await locked.rollback()
        finally:
            await holder.close()
        assert (await http.get(f"/api/orders/{order['order_id']}")).status_code == 200


class HangingProxy:
    """Forwards TCP to PostgreSQL until `hang()`: then nothing more passes either way, and new
    connections are accepted and left unanswered, as a stalled host or network would."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.hung = asyncio.Event()
        self.tasks: set[asyncio.Task[None]] = set()
        self.writers: list[asyncio.StreamWriter] = []

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            while data := await reader.read(65536):
                if self.hung.is_set():
                    await asyncio.Event().wait()  # swallowed: never forwarded
                writer.write(data)
                await writer.drain()
            # One side closed: so does the other, as a TCP proxy does (asyncpg's close() waits
            # for the server to hang up after its Terminate).
            writer.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        if self.hung.is_set():
            return  # accepted, never answered
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        self.writers.append(upstream_writer)
        for pipe in (self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer)):
            task = asyncio.create_task(pipe)
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[int]:
        server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        try:
            yield server.sockets[0].getsockname()[1]
        finally:
            server.close()
            for writer in self.writers:
                writer.close()
            for task in list(self.tasks):
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)


@pytest.mark.waits
async def test_a_postgres_that_answers_nothing_is_a_503_within_the_timeouts(
    make_settings: Callable[..., Settings],
) -> None:
    base = make_settings("postgres", "memory", sandbox_delay=600.0)
    url = urlsplit(base.database_url)
    proxy = HangingProxy((url.hostname or "127.0.0.1", url.port or 5432))
    async with proxy.serving() as port:
        settings = base.with_overrides(
            database_url=url._replace(netloc=f"{url.username}@127.0.0.1:{port}").geturl(),
            database_statement_timeout=0.5,
            database_acquire_timeout=0.5,
            database_pool_size=2,
        )
        async with (
            run_server(settings) as live,
            local_client(live.base_url, timeout=60) as http,
        ):
            order = (await http.post("/api/orders", json={**ORDER, "phone": "0712349999"})).json()
            proxy.hung.set()
            # Pooled connections: the statement's answer never comes (cut on the client).
            # Then new connections: their opening never completes (the acquire timeout).
            for _ in range(4):
                assert_unavailable(await http.get(f"/api/orders/{order['order_id']}"))
            ready = await http.get("/readyz")
            assert ready.status_code == 503
