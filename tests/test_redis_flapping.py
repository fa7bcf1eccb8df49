"""Redis killed and restarted again and again while waiters subscribe: no 500, no leaked watch."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx

from server.broker.redis_broker import RedisBroker
from server.lifecycle import PROCESSING
from server.settings import Settings
from tests.backends import OwnRedis
from tests.helpers import move, new_order
from tests.local_http import local_client
from tests.server_harness import run_server, until

FLAPS = 6


async def test_waiters_meeting_a_flapping_redis_get_answers_and_leave_no_watch(
    make_settings: Callable[..., Settings], own_redis: OwnRedis
) -> None:
    own = own_redis
    settings = make_settings(
        "sqlite", "memory", safety_net_interval=0.2, wait_timeout=5.0, wait_timeout_max=5.0
    )
    settings = settings.with_overrides(redis_url=own.url)
    async with run_server(settings) as live:
        broker = live.services.broker
        assert isinstance(broker, RedisBroker)
        await until(lambda: broker.connected)
        orders = [await new_order(live.services) for _ in range(20)]
        statuses: list[int] = []
        bad: list[str] = []
        stop = asyncio.Event()
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
        async with local_client(live.base_url, timeout=30, limits=limits) as http:

            async def waiter(n: int) -> None:
                while not stop.is_set():
                    order = orders[(n + len(statuses)) % len(orders)]
                    if n % 2:
                        response = await http.get(
                            f"/api/orders/{order.order_id}/wait", params={"since": 1, "timeout": 0.05}
                        )
                    else:
                        # Reads the first event, then leaves (the stream would stay open).
                        async with http.stream("GET", f"/api/orders/{order.order_id}/events") as response:
                            async for line in response.aiter_lines():
                                if line.startswith("data:") or response.status_code != 200:
                                    break
                    statuses.append(response.status_code)
                    if response.status_code not in (200, 503) or not response.headers.get(
                        "content-type", ""
                    ).startswith(("application/json", "text/event-stream")):
                        bad.append(f"{response.status_code} {response.headers.get('content-type')}")

            waiters = [asyncio.create_task(waiter(n)) for n in range(40)]
            for _ in range(FLAPS):
                await until(lambda: broker.connected, timeout=30)
                # Waiters subscribe on the live connection, then it is killed under them.
                seen = len(statuses)
                await until(lambda seen=seen: len(statuses) > seen + 40)
                own.stop()
                await until(lambda: not broker.connected)
                own.start()
            stop.set()
            await asyncio.gather(*waiters)
            # Every waiter was answered; none of them was a 500.
            assert bad == [] and 500 not in statuses
            # No watch outlives its request: the gauge returns to 0.
            await until(lambda: live.services.hub.watch_count == 0)
            assert (await http.get("/readyz")).json()["waiters"] == 0
            # And the service still delivers through Redis once it is back.
            await until(lambda: broker.connected, timeout=30)
            order = orders[0]
            held = asyncio.create_task(
                http.get(f"/api/orders/{order.order_id}/wait", params={"since": 1, "timeout": 5})
            )
            await until(lambda: live.services.hub.watch_count == 1)
            await move(live.services, order.order_id, PROCESSING)
            assert (await held).json()["payment_status"] == PROCESSING
