"""PayHero's connections are bounded, and a push that finds them all busy keeps its order.

Issue 22's flash sale at 83 checkouts/s held more pushes open at PayHero than httpx's
default 100 connections; a push that waited past its pool timeout failed its order with a
502 and gave its seat away, for the service's own congestion. Here a PayHero on a real port
holds every push's answer, PAYHERO_MAX_CONNECTIONS is 2, and a third checkout comes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from server.settings import Settings
from tests.server_harness import until
from tests.test_expiry_open_prompt import held_at
from tests.test_payment_lifecycle import send_again_when_allowed, shop

POOL = {"payhero_max_connections": 2, "payhero_pool_timeout": 0.3, "payhero_timeout": 30.0}


async def test_a_push_with_no_free_connection_is_unknown_and_keeps_the_order(
    make_settings: Callable[..., Settings],
) -> None:
    async with shop(make_settings(), service=POOL) as world:
        hold, _, release = held_at("payments")
        world.fake.before_answer = hold
        first = asyncio.create_task(world.checkout(phone="0711000001"))
        second = asyncio.create_task(world.checkout(phone="0711000002"))
        await until(lambda: len(world.fake.pushes) == 2)  # both connections held at PayHero

        third = await world.checkout(expect=202, phone="0711000003")
        assert third["payment_status"] == "processing" and third["push_outcome"] == "unknown"
        assert world.pushes_of(third) == []  # it never reached PayHero
        [push] = await world.push_rows(third["order_id"])
        assert push["outcome"] == "unknown" and push["error"].startswith("not sent: every connection")
        events = (await world.http.get("/api/events")).json()
        assert events[0]["ticket_types"][0]["available"] == 500 - 3  # its seat is kept

        release.set()
        assert (await first)["payment_status"] == (await second)["payment_status"] == "processing"
        again = await send_again_when_allowed(world, third["order_id"])
        assert again.status_code == 202 and "push_outcome" not in again.json()
        assert len(world.pushes_of(third)) == 1 and again.json()["pushes"] == 2
