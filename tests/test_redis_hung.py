"""A Redis that hangs (SIGSTOP): checkout and callback wait on it for one short timeout at most.

Before, each of them waited on the library's 5 s timeout, retried once: 10 s a request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx

from server.broker.redis_broker import RedisBroker
from server.settings import Settings
from tests.backends import OwnRedis
from tests.local_http import local_client
from tests.payhero_fixtures import ORDER, TOKEN, sandbox_callback
from tests.server_harness import run_server, until

CALLBACK = f"/api/payhero/callback/{TOKEN}"
REDIS_TIMEOUT = 0.5
# Far below the 10 s a request took, far above one timeout plus the work on a busy machine.
BOUND = 3.0


async def timed(request: Any) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await request
    return response, time.monotonic() - started


async def test_a_hung_redis_costs_checkout_and_callback_one_short_timeout(
    make_settings: Callable[..., Settings], own_redis: OwnRedis
) -> None:
    settings = make_settings(
        "sqlite",
        "memory",
        sandbox_delay=600.0,
        callback_token=TOKEN,
        safety_net_interval=0.2,
        redis_timeout=REDIS_TIMEOUT,
        # The push limits on: they are the other Redis call on checkout's path.
        push_limit_per_phone=1000,
        push_limit_per_ip=1000,
    ).with_overrides(redis_url=own_redis.url)
    async with run_server(settings) as live, local_client(live.base_url, timeout=30) as http:
        broker = live.services.broker
        assert isinstance(broker, RedisBroker)
        await until(lambda: broker.connected)
        order = (await http.post("/api/orders", json={**ORDER, "phone": "0712349999"})).json()
        assert (await http.get("/readyz")).json()["broker"] == "ok"

        own_redis.pause()
        answers = [
            await timed(http.post("/api/orders", json={**ORDER, "phone": "0712349999"})) for _ in range(3)
        ]
        waiter = asyncio.create_task(http.get(order["wait_url"], params={"since": 2, "timeout": 10}))
        await until(lambda: live.services.hub.watch_count == 1)
        callback, took = await timed(http.post(CALLBACK, json=sandbox_callback(order)))
        answers.append((callback, took))
        ready = (await http.get("/readyz")).json()
        stream_opened, _ = await timed(http.get(answers[0][0].json()["wait_url"], params={"since": 0}))

        for response, took in answers:
            assert response.status_code in (200, 201), response.text
            assert took < BOUND, f"{response.request.url} waited {took:.1f}s on a hung Redis"
        assert callback.json()["payment_status"] == "completed"
        assert (await waiter).json()["payment_status"] == "completed"
        assert stream_opened.status_code == 200
        # Marked degraded: the first call that timed out made every other caller skip Redis.
        assert ready["broker"] == "degraded" and ready["status"] == "degraded"
        assert broker.health.failures <= 2

        # Woken, it is tried again after the cool-off and found answering.
        own_redis.resume()
        for _ in range(200):
            if (await http.get("/readyz")).json()["broker"] == "ok":
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the broker never answered again after SIGCONT")
