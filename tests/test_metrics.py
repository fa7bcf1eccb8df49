"""`/metrics`: the counters the benchmarks read (requests by route, store reads, waiters)."""

from __future__ import annotations

import asyncio

import httpx

from server.settings import Settings
from tests.helpers import new_order
from tests.server_harness import run_server, until


def sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")


async def test_metrics_count_requests_by_route_reads_and_waiters(stack_settings: Settings) -> None:
    async with run_server(stack_settings) as live, httpx.AsyncClient(base_url=live.base_url) as http:
        order = await new_order(live.services)
        reads_before = live.services.reader.reads
        assert (await http.get(f"/api/orders/{order.order_id}")).status_code == 200
        held = asyncio.create_task(
            http.get(f"/api/orders/{order.order_id}/wait", params={"since": 1, "timeout": 20}, timeout=30)
        )
        await until(lambda: live.services.hub.watch_count == 1)
        response = await http.get("/metrics")
        held.cancel()
        await asyncio.gather(held, return_exceptions=True)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    assert 'http_requests_total{method="GET",route="/api/orders/{order_id}"} 1' in text
    assert 'http_requests_total{method="GET",route="/api/orders/{order_id}/wait"} 1' in text
    assert 'http_requests_total{method="GET",route="/metrics"} 1' in text
    assert sample(text, "status_watches") == 1
    # One read for the GET and one for the held /wait, nothing else.
    assert sample(text, "store_reads_total") == reads_before + 2
    assert sample(text, "store_single_reads_total") >= 2
