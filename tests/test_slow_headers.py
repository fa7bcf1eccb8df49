"""Slow headers (issue 15): a connection whose request headers trickle in is closed after
HEADER_TIMEOUT; complete requests, and held ones, are not."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from server.settings import Settings
from tests.helpers import new_order
from tests.local_http import local_client
from tests.process_harness import running_service
from tests.server_harness import run_server

HEADER_TIMEOUT = 0.5
TRICKLERS = 30
GIVE_UP = 12.0


async def trickle(port: int, *, first: bytes = b"") -> float:
    """Send a request's header one short line at a time, forever; how long the server let it
    go on before closing the connection (reading its end)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    loop = asyncio.get_running_loop()
    try:
        if first:
            writer.write(first)
            await reader.readuntil(b"\r\n\r\n")  # that response's head...
            await reader.readuntil(b"}")  # ...and its small JSON body
        started = loop.time()
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: slow\r\n")
        n = 0
        # Bounded, so that a server which never cuts it off fails the test instead of hanging it.
        while not reader.at_eof() and loop.time() - started < GIVE_UP:
            with contextlib.suppress(ConnectionError):
                writer.write(b"X-Slow-%d: y\r\n" % n)
            n += 1
            try:
                if await asyncio.wait_for(reader.read(1), 0.05) == b"":
                    break
            except TimeoutError:
                continue
            except ConnectionError:
                # Closed with our header lines still unread: the kernel answers with a reset,
                # not an end of stream. Seen on a loaded machine; it is the cut-off all the same.
                break
        return loop.time() - started
    finally:
        writer.close()


async def test_trickling_headers_are_cut_off_while_real_requests_go_on(stack_settings: Settings) -> None:
    settings = stack_settings.with_overrides(header_timeout=HEADER_TIMEOUT, wait_timeout=25.0)
    async with run_server(settings) as live, local_client(live.base_url, timeout=10) as http:
        port = int(live.base_url.rsplit(":", 1)[1])
        order = await new_order(live.services)
        # A held /wait sent its headers at once: the deadline does not apply to it.
        # Its client waits longer than the hold: the client's own 10 s read timeout once
        # ended it first, when a loaded machine stretched the tricklers' part of the test.
        held = asyncio.create_task(
            http.get(f"/api/orders/{order.order_id}/wait", params={"since": 1}, timeout=30)
        )
        keep_alive = b"GET /healthz HTTP/1.1\r\nHost: slow\r\n\r\n"
        lasted = await asyncio.gather(
            *(trickle(port) for _ in range(TRICKLERS)),
            # A second request on a kept-alive connection trickles too.
            *(trickle(port, first=keep_alive) for _ in range(5)),
        )
        # Every trickler was closed; none was let go on for long (the hold is 25 s).
        assert max(lasted) < GIVE_UP, lasted
        assert (await http.get("/healthz")).status_code == 200
        assert not held.done()
        await asyncio.sleep(HEADER_TIMEOUT * 2)
        assert not held.done()
        held.cancel()


async def test_the_procfile_command_applies_the_header_timeout(tmp_path: Path) -> None:
    """`python -m server.launcher` (the Procfile) runs uvicorn with the deadline, from HEADER_TIMEOUT."""
    env = {
        "DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'service.sqlite3'}",
        "HEADER_TIMEOUT": str(HEADER_TIMEOUT),
    }
    with running_service(env, tmp_path) as service:
        port = int(service.base_url.rsplit(":", 1)[1])
        lasted = await asyncio.gather(*(trickle(port) for _ in range(5)))
        assert max(lasted) < GIVE_UP, lasted
        async with local_client(service.base_url) as http:
            assert (await http.get("/healthz")).status_code == 200
