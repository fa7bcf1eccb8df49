"""PayHero's connections are bounded, and a push that finds them all busy keeps its order.

Issue 22's flash sale at 83 checkouts/s held more pushes open at PayHero than httpx's
default 100 connections; a push that waited past its pool timeout failed its order with a
502 and gave its seat away, for the service's own congestion. Here a PayHero on a real port
holds every push's answer, PAYHERO_MAX_CONNECTIONS is 2, and a third checkout comes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from server.payhero.client import build_http_client, shared_tls_context
from server.payhero.connection_shards import sharded_transport
from server.settings import Settings
from tests.server_harness import serve_app, until
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


async def test_split_connections_hold_as_many_pushes_as_one_pool_and_are_kept_alive() -> None:
    """PayHero's connections are split over small pools (server/payhero/connection_shards.py):
    as many requests are at PayHero at once as PAYHERO_MAX_CONNECTIONS says, the next waits
    for a connection, and the connections are kept for the next burst."""
    held, arrived, peers = asyncio.Event(), [0], set()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        arrived[0] += 1
        peers.add(tuple(scope["client"]))
        await held.wait()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"success": true}'})

    total = 70  # three shards: 24, 23 and 23 connections
    async with serve_app(app) as url:
        transport = sharded_transport(total, verify=shared_tls_context())
        http = httpx.AsyncClient(base_url=url, transport=transport, timeout=httpx.Timeout(10.0, pool=0.3))
        async with http:
            burst = [asyncio.create_task(http.post("/push", json={})) for _ in range(total)]
            await until(lambda: arrived[0] == total)
            assert sorted(transport.in_flight) == [23, 23, 24]
            with pytest.raises(httpx.PoolTimeout):
                await http.post("/push", json={})
            held.set()
            assert all(response.status_code == 200 for response in await asyncio.gather(*burst))
            assert transport.in_flight == (0, 0, 0)

            again = [asyncio.create_task(http.post("/push", json={})) for _ in range(total)]
            assert all(response.status_code == 200 for response in await asyncio.gather(*again))
    assert arrived[0] == 2 * total and len(peers) == total  # the second burst on the same connections


async def test_a_proxy_the_environment_names_for_payhero_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """Behind an egress proxy (HTTP_PROXY / HTTPS_PROXY, as for a static outbound IP), the
    pushes go through it: httpx reads the environment only for its own transport, so the
    split pools are each given the proxy."""
    request_lines: list[bytes] = []

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request_lines.append(await reader.readline())
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        body = b'{"success": true}'
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
        )
        writer.write(body)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(proxy, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    async with server:
        http = build_http_client(base_url="http://payhero.test", username="u", password="p", timeout=5.0)
        async with http:
            answer = await http.post("/api/v2/payments", json={})
    assert answer.status_code == 200
    assert request_lines == [b"POST http://payhero.test/api/v2/payments HTTP/1.1\r\n"]
