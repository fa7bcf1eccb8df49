"""Waiter caps that do not punish the neighbours (issue 24): one client's pile on its own
order is capped per order before it counts against its address, and a `/wait` that can be
answered at once is never refused. Real uvicorn, both stacks."""

from __future__ import annotations

import asyncio

import httpx

from server.settings import Settings
from tests.helpers import move, new_order
from tests.local_http import local_client
from tests.server_harness import run_server, until


async def test_a_pile_on_one_order_leaves_the_neighbours_their_share(stack_settings: Settings) -> None:
    settings = stack_settings.with_overrides(
        wait_timeout=25.0, max_waiters_per_client=4, max_waiters_per_client_order=2
    )
    async with run_server(settings) as live, local_client(live.base_url, timeout=30) as http:
        hub = live.services.hub
        own, neighbour, paid = [await new_order(live.services) for _ in range(3)]

        def hold(order_id: str, version: int) -> asyncio.Task[httpx.Response]:
            return asyncio.create_task(http.get(f"/api/orders/{order_id}/wait", params={"since": version}))

        piled = [hold(own.order_id, own.version) for _ in range(2)]
        await until(lambda: hub.watch_count == 2)
        # The third on the same order from the same address: refused by the per-order share.
        refused = await http.get(f"/api/orders/{own.order_id}/wait", params={"since": own.version})
        assert refused.status_code == 429 and refused.json()["error"] == "too_many_waiters"
        assert hub.refused == {"total": 0, "order": 0, "client_order": 1, "client": 0}
        # A neighbour behind the same address still gets a waiter on their own order.
        theirs = [hold(neighbour.order_id, neighbour.version) for _ in range(2)]
        await until(lambda: hub.watch_count == 4)
        # Now the address is full: a wait that must wait is refused...
        assert (
            await http.get(f"/api/orders/{paid.order_id}/wait", params={"since": paid.version})
        ).status_code == 429
        # ...but one that can be answered at once never is: news it has not seen, or an end.
        news = await http.get(f"/api/orders/{paid.order_id}/wait", params={"since": 0})
        assert news.status_code == 200 and news.json()["version"] == paid.version
        await move(live.services, paid.order_id, "completed")
        done = await http.get(f"/api/orders/{paid.order_id}/wait")
        assert done.status_code == 200 and done.json()["payment_status"] == "completed"
        for order in (own, neighbour):
            await move(live.services, order.order_id, "cancelled")
        assert {(await task).status_code for task in piled + theirs} == {200}
        text = (await http.get("/metrics")).text
        assert 'payment_status_waiters_refused_total{cap="client_order"} 1.0' in text
