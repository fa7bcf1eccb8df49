"""Ghost waiters (issue 15): a `/wait` whose client has gone is released at once, and one
address cannot hold more than MAX_WAITERS_PER_CLIENT waiters, over real sockets."""

from __future__ import annotations

import asyncio
import socket
import struct

from server.settings import Settings
from tests.helpers import SSEReader, move, new_order
from tests.local_http import local_client
from tests.server_harness import RunningServer, run_server, until

GHOSTS = 500
BATCH = 50


async def _ghost_batch(live: RunningServer, path: str, count: int, *, reset: bool) -> None:
    """`count` connections each send a `/wait`, stay until the server holds every one of
    them, then leave: with a TCP reset (SO_LINGER 0), or a plain close."""
    port = int(live.base_url.rsplit(":", 1)[1])
    hub = live.services.hub
    held_before = hub.watch_count
    writers = []
    for _ in range(count):
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: ghost\r\n\r\n".encode())
        writers.append(writer)
    await until(lambda: hub.watch_count == held_before + count, timeout=20)
    for writer in writers:
        if reset:
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        else:
            writer.close()


async def test_500_reset_waits_are_released_and_the_order_still_answers(stack_settings: Settings) -> None:
    # A long hold: without the release, the ghosts would keep their places for 25 s.
    settings = stack_settings.with_overrides(
        wait_timeout=25.0, max_waiters_per_order=GHOSTS, max_waiters_per_client=0
    )
    async with run_server(settings) as live, local_client(live.base_url, timeout=10) as http:
        order = await new_order(live.services)
        hub = live.services.hub
        path = f"/api/orders/{order.order_id}/wait?since={order.version}"
        for batch in range(GHOSTS // BATCH):
            await _ghost_batch(live, path, BATCH, reset=batch % 5 != 4)  # one batch in five: FIN
            # Every ghost of the batch left, and each one's place is free again.
            await until(lambda: hub.watch_count == 0, timeout=10)
        assert hub.refused == {"total": 0, "order": 0, "client_order": 0, "client": 0}

        # The order's own customer: SSE gets the current status at once, /wait is held and
        # answered by the change, both from the order's full per-order allowance.
        async with http.stream("GET", f"/api/orders/{order.order_id}/events") as stream:
            assert stream.status_code == 200
            events = SSEReader(stream)
            first = await events.next_event()
            assert first is not None and first["id"] == str(order.version)
            waiting = asyncio.create_task(http.get(path))
            await until(lambda: hub.watch_count == 2)
            await move(live.services, order.order_id, "cancelled")
            answer = await waiting
            assert answer.status_code == 200, answer.text
            assert answer.json()["payment_status"] == "cancelled" and answer.json()["timed_out"] is False
            update = await events.next_event()
            assert update is not None and update["data"]["payment_status"] == "cancelled"
        await until(lambda: hub.watch_count == 0)


async def test_one_address_holds_at_most_max_waiters_per_client(stack_settings: Settings) -> None:
    settings = stack_settings.with_overrides(wait_timeout=25.0, max_waiters_per_client=3)
    async with run_server(settings) as live, local_client(live.base_url, timeout=10) as http:
        hub = live.services.hub
        orders = [await new_order(live.services) for _ in range(3)]
        held = [
            asyncio.create_task(http.get(f"/api/orders/{o.order_id}/wait", params={"since": o.version}))
            for o in orders[:2]
        ]
        async with http.stream("GET", f"/api/orders/{orders[2].order_id}/events") as stream:
            assert stream.status_code == 200
            await until(lambda: hub.watch_count == 3)
            # The fourth from the same address, on any order and either transport: refused.
            for suffix in ("wait", "events"):
                refused = await http.get(f"/api/orders/{orders[0].order_id}/{suffix}")
                assert refused.status_code == 429, refused.text
                assert refused.json()["error"] == "too_many_waiters"
                assert int(refused.headers["retry-after"]) >= 1
        # One of them left: its place is free for the next.
        await until(lambda: hub.watch_count == 2)
        await move(live.services, orders[2].order_id, "cancelled")
        answer = await http.get(f"/api/orders/{orders[2].order_id}/wait", params={"since": 0})
        assert answer.status_code == 200
        for order in orders[:2]:
            await move(live.services, order.order_id, "cancelled")
        assert [(await task).status_code for task in held] == [200, 200]
        assert hub.refused["client"] == 2
        text = (await http.get("/metrics")).text
        assert 'payment_status_waiters_refused_total{cap="client"} 2.0' in text
