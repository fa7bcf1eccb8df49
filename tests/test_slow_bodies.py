"""Slow bodies and connection hoarding (issue 24): BODY_TIMEOUT and MAX_CONNECTIONS_PER_CLIENT,
on a real uvicorn with the launcher's protocols (httptools and h11), over real sockets."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import pytest

from server.launcher import H11, HTTPTOOLS
from server.settings import Settings
from tests.server_harness import RunningServer, run_server, until

PROTOCOLS = [pytest.param(HTTPTOOLS, id="httptools"), pytest.param(H11, id="h11")]


def address(live: RunningServer) -> tuple[str, int]:
    host, port = live.base_url.removeprefix("http://").split(":")
    return host, int(port)


async def closed_by_server(reader: asyncio.StreamReader) -> bool:
    """Reads until the server closes: True when it did (EOF or a reset)."""
    try:
        async with asyncio.timeout(20):
            while await reader.read(4096):
                pass
    except ConnectionResetError:
        pass
    return True


@contextlib.asynccontextmanager
async def connection(live: RunningServer) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    reader, writer = await asyncio.open_connection(*address(live))
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def health(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    return await reader.readuntil(b"\r\n\r\n")


@pytest.mark.parametrize("http", PROTOCOLS)
async def test_a_body_trickled_after_its_headers_is_cut_off(
    make_settings: Callable[..., Settings], http: str
) -> None:
    async with run_server(make_settings(body_timeout=0.5), http=http) as live:
        async with connection(live) as (reader, writer):
            writer.write(
                b"POST /api/orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b'Content-Length: 400\r\n\r\n{"ev'
            )
            await writer.drain()
            assert await closed_by_server(reader)
        metrics = live.services.metrics.registry
        await until(lambda: (metrics.get_sample_value("payment_status_client_disconnects_total") or 0) >= 1)
        # A whole body in time, on a fresh connection, is served as ever.
        async with connection(live) as (reader, writer):
            assert (await health(reader, writer)).startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize("http", PROTOCOLS)
async def test_one_address_holds_at_most_its_connections(
    make_settings: Callable[..., Settings], http: str
) -> None:
    # Loopback is not a trusted proxy here, so the test client counts as a client.
    settings = make_settings(max_connections_per_client=3, forwarded_allow_ips=("10.0.0.0/8",))
    async with run_server(settings, http=http) as live, contextlib.AsyncExitStack() as stack:
        held = [await stack.enter_async_context(connection(live)) for _ in range(3)]
        async with connection(live) as (reader, _):
            assert await closed_by_server(reader)  # the fourth is closed at once
        for reader, writer in held:
            assert (await health(reader, writer)).startswith(b"HTTP/1.1 200")  # the three still serve
        _, first = held.pop(0)
        first.close()
        await first.wait_closed()
        # Its place comes back once the server has seen it go.
        counts = live.server.lifespan.state["connection_counts"]
        assert counts.refused == 1
        await until(lambda: sum(counts.open.values()) == 2)
        async with connection(live) as (reader, writer):
            assert (await health(reader, writer)).startswith(b"HTTP/1.1 200")
