"""The held routes' own ASGI path: keep-alive comments, methods, and errors as JSON."""

from __future__ import annotations

import pytest

from server.settings import Settings
from tests.helpers import move, new_order
from tests.local_http import local_client
from tests.server_harness import run_server


async def test_an_idle_stream_gets_keep_alive_comments_between_events(stack_settings: Settings) -> None:
    settings = stack_settings.with_overrides(sse_ping_interval=0.05)
    async with run_server(settings) as live, local_client(live.base_url, timeout=30) as http:
        order = await new_order(live.services)
        lines: list[str] = []
        async with http.stream("GET", f"/api/orders/{order.order_id}/events") as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["cache-control"] == "no-store"
            async for line in response.aiter_lines():
                lines.append(line)
                if sum(1 for seen in lines if seen.startswith(":")) == 3:
                    # Only comments came while the order stood still; now it changes.
                    await move(live.services, order.order_id, "cancelled")
        # The stream ended by itself after the terminal status.
    assert lines[:2] == [f"retry: {settings.sse_retry_ms}", ""]
    assert lines[2:4] == ["id: 1", "event: status"]
    data = [line for line in lines if line.startswith("data: ")]
    assert len(data) == 2 and '"payment_status":"cancelled"' in data[1]


async def test_other_methods_on_held_routes_get_a_json_405(stack_settings: Settings) -> None:
    async with run_server(stack_settings) as live, local_client(live.base_url) as http:
        order = await new_order(live.services)
        for suffix in ("wait", "events"):
            response = await http.post(f"/api/orders/{order.order_id}/{suffix}")
            assert response.status_code == 405
            assert response.json()["error"] == "method_not_allowed"


async def test_held_routes_count_in_metrics_by_their_route(stack_settings: Settings) -> None:
    async with run_server(stack_settings) as live, local_client(live.base_url) as http:
        order = await new_order(live.services)
        await http.get(f"/api/orders/{order.order_id}/wait", params={"since": 0})
        await http.get("/api/orders/not-an-order/events")
        text = (await http.get("/metrics")).text
    # Reached past the Router, they still carry their route templates (and statuses).
    wait = 'payment_status_http_requests_total{method="GET",route="/api/orders/{order_id}/wait",status="200"}'
    events = (
        'payment_status_http_requests_total{method="GET",route="/api/orders/{order_id}/events",status="404"}'
    )
    assert f"{wait} 1.0" in text
    assert f"{events} 1.0" in text


async def test_an_unexpected_error_is_answered_and_counted_as_a_500(
    stack_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with run_server(stack_settings) as live, local_client(live.base_url) as http:
        order = await new_order(live.services)

        async def broken(order_id: str) -> None:
            raise RuntimeError("a bug")

        monkeypatch.setattr(live.services.reader, "get", broken)
        for suffix in ("", "/wait"):
            response = await http.get(f"/api/orders/{order.order_id}{suffix}")
            assert response.status_code == 500 and response.json()["error"] == "internal_error"
        monkeypatch.undo()
        text = (await http.get("/metrics")).text
    for route in ("/api/orders/{order_id}", "/api/orders/{order_id}/wait"):
        assert f'payment_status_http_requests_total{{method="GET",route="{route}",status="500"}} 1.0' in text
