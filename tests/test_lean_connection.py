"""The leaner HTTP connection (server/ops/lean_connection.py) still speaks HTTP/1.1 fully:
pipelined requests are answered in order, and its events wake their waiters."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

from server.ops.lean_connection import lean_event
from server.settings import Settings
from tests.server_harness import run_server


async def test_pipelined_requests_are_answered_in_order(make_settings: Callable[..., Settings]) -> None:
    async with run_server(make_settings()) as live:
        port = int(live.base_url.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            # Three requests in one write: the second and third wait behind the first.
            writer.write(
                b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"
                b"GET /api/orders/nope/wait HTTP/1.1\r\nHost: a\r\n\r\n"
                b"GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
            )
            answered = await asyncio.wait_for(reader.read(), 10)
        finally:
            writer.close()
    # A body is not followed by a line break: the next status line starts right after it.
    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", answered)
    assert statuses == [b"200", b"404", b"200"]


async def test_a_lean_event_wakes_every_waiter_and_can_be_waited_on_again() -> None:
    event = lean_event(asyncio.Event())
    waiting = [asyncio.create_task(event.wait()) for _ in range(3)]
    await asyncio.sleep(0)
    assert not any(task.done() for task in waiting)
    event.set()
    assert await asyncio.gather(*waiting) == [True, True, True]
    event.clear()
    again = asyncio.create_task(event.wait())
    await asyncio.sleep(0)
    assert not again.done()
    again.cancel()  # a waiter that gives up leaves the queue
    await asyncio.gather(again, return_exceptions=True)
    event.set()
    assert await event.wait()
