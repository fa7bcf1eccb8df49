"""/metrics over real HTTP: each metric moves when the thing it counts happens."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from server.app import create_app
from server.settings import Settings
from tests.backends import OwnRedis, free_port
from tests.helpers import SSEReader
from tests.local_http import local_client
from tests.ops_helpers import callback_body, checkout_body, served
from tests.server_harness import RunningServer, run_server, until

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(http: httpx.AsyncClient, **headers: str) -> Samples:
    response = await http.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
async def app(stack_settings: Settings) -> AsyncIterator[tuple[RunningServer, httpx.AsyncClient]]:
    async with served(stack_settings.with_overrides(sandbox_delay=30.0)) as pair:
        yield pair


async def test_a_payment_moves_every_metric_it_touches(app: tuple[RunningServer, httpx.AsyncClient]) -> None:
    live, client = app
    before = await scrape(client)
    created = await client.post("/api/orders", json=checkout_body())
    assert created.status_code == 201
    order = created.json()
    callback_path = f"/api/payhero/callback/{live.services.settings.callback_token}"
    wait = asyncio.create_task(
        client.get(f"/api/orders/{order['order_id']}/wait", params={"since": order["version"]})
    )
    async with client.stream("GET", f"/api/orders/{order['order_id']}/events") as stream:
        sse = SSEReader(stream)
        assert (await sse.next_event()) is not None
        await until(lambda: live.services.hub.watch_count >= 2)
        held = await scrape(client)
        assert value(held, "payment_status_waiters", transport="sse") == 1
        assert value(held, "payment_status_waiters", transport="long_poll") == 1
        assert value(held, "payment_status_hub_watches") >= 2
        assert value(held, "payment_status_hub_channels") >= 1
        paid = await client.post(callback_path, content=callback_body(order["order_number"]))
        assert paid.json()["payment_status"] == "completed"
        assert (await sse.next_event()) is not None
        await wait
    duplicate = await client.post(callback_path, content=callback_body(order["order_number"]))
    assert duplicate.status_code == 200
    await client.post(callback_path, content=b"not a callback")
    await client.post(callback_path, content=callback_body("ORD-NOSUCH"))
    after = await scrape(client)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert value(after, "payment_status_waiters", transport="sse") == 0
    assert value(after, "payment_status_waiters", transport="long_poll") == 0
    assert grew("payment_status_callbacks_total", result="completed", outcome="applied") == 1
    assert grew("payment_status_callbacks_total", result="completed", outcome="duplicate") == 1
    assert grew("payment_status_callbacks_total", result="unparsed", outcome="invalid") == 1
    # A success for no order of ours may be someone's money: held for review, and counted.
    assert grew("payment_status_callbacks_total", result="completed", outcome="review:unknown_order") == 1
    assert grew("payment_status_reviews_total", reason="unknown_order") == 1
    assert value(after, "payment_status_reviews_total", reason="double_payment") == 0
    # At least the push accepted (processing) and the payment (completed).
    assert grew("payment_status_notifications_published_total") >= 2
    assert grew("payment_status_notifications_delivered_total") >= 2  # the stream and the wait
    assert grew("payment_status_fanout_delay_seconds_count") >= 1
    assert value(after, "payment_status_fanout_delay_seconds_bucket", le="+Inf") >= 1
    assert grew("payment_status_http_requests_total", method="POST", route="/api/orders", status="201") == 1
    assert (
        grew(
            "payment_status_http_requests_total",
            method="GET",
            route="/api/orders/{order_id}/events",
            status="200",
        )
        == 1
    )
    assert (
        grew(
            "payment_status_http_requests_total",
            method="POST",
            route="/api/payhero/callback/{token}",
            status="400",
        )
        == 1
    )
    assert grew("payment_status_store_reads_total") >= 2
    assert value(after, "payment_status_broker_up") == 1
    assert ("payment_status_broker_reconnects_total", ()) in after
    # The paid order's e-mails count in the backlog until the worker has sent them (the
    # first e-mail also starts the composing process): then it is back to 0.
    deadline = asyncio.get_running_loop().time() + 15
    while value(await scrape(client), "payment_status_outbox_backlog") != 0:
        assert asyncio.get_running_loop().time() < deadline, "the paid order's e-mails never left"
        await asyncio.sleep(0.02)
    assert value(after, "process_open_fds") > 0


async def test_unmatched_paths_and_odd_methods_share_one_label(
    app: tuple[RunningServer, httpx.AsyncClient],
) -> None:
    _, client = app
    for _ in range(20):
        await client.get(f"/{uuid.uuid4().hex}/{uuid.uuid4().hex}")
        await client.request("PROPFIND", f"/{uuid.uuid4().hex}")
    samples = await scrape(client)
    routes = {
        dict(labels).get("route") for name, labels in samples if name == "payment_status_http_requests_total"
    }
    assert "<unmatched>" in routes
    assert all(route is None or not route.startswith("/0") for route in routes)
    assert len(routes) < 10
    assert (
        value(
            samples, "payment_status_http_requests_total", method="other", route="<unmatched>", status="404"
        )
        == 20
    )


async def test_a_new_method_per_request_adds_no_series_under_h11(
    make_settings: Callable[..., Settings],
) -> None:
    """uvicorn's h11 takes any token as a method: 300 made-up ones over raw sockets."""
    async with run_server(make_settings(), http="h11") as live:
        port = int(live.base_url.rsplit(":", 1)[1])
        metrics = live.services.metrics
        for n in range(300):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(
                f"M{uuid.uuid4().hex[:12].upper()}{n} /api/events HTTP/1.1\r\nHost: x\r\n\r\n".encode()
            )
            assert (await reader.readline()).startswith(b"HTTP/1.1 405")
            writer.close()
        assert metrics.http_series == 1
        async with local_client(live.base_url) as client:
            samples = await scrape(client)
    series = {"method": "other", "route": "/api/events", "status": "405"}
    assert value(samples, "payment_status_http_requests_total", **series) == 300


async def test_each_app_has_its_own_registry(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    async with run_server(settings) as first, run_server(settings) as second:
        async with (
            local_client(first.base_url) as one,
            local_client(second.base_url) as two,
        ):
            for _ in range(3):
                await one.get("/healthz")
            ok = dict(method="GET", route="/healthz", status="200")
            assert value(await scrape(one), "payment_status_http_requests_total", **ok) == 3
            assert value(await scrape(two), "payment_status_http_requests_total", **ok) == 0
    create_app(settings), create_app(settings)  # no "Duplicated timeseries" on a shared registry


async def test_the_metrics_token_is_required_when_set(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings().with_overrides(metrics_token="m" * 32)
    async with served(settings) as (_live, http):
        refused = await http.get("/metrics")
        wrong = await http.get("/metrics", headers={"Authorization": "Bearer " + "n" * 32})
        assert await scrape(http, Authorization="Bearer " + "m" * 32)
    for response in (refused, wrong):
        assert response.status_code == 401 and response.json()["error"] == "unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.waits
async def test_the_outbox_backlog_counts_unsent_emails(make_settings: Callable[..., Settings]) -> None:
    # A mail server that is not there: the paid order's e-mails wait in the outbox.
    settings = make_settings().with_overrides(
        sandbox_delay=30.0, smtp_url=f"smtp://127.0.0.1:{free_port()}", smtp_timeout=1.0
    )
    async with served(settings) as (live, http):
        assert value(await scrape(http), "payment_status_outbox_backlog") == 0
        order = (await http.post("/api/orders", json=checkout_body())).json()
        callback = f"/api/payhero/callback/{live.services.settings.callback_token}"
        paid = await http.post(callback, content=callback_body(order["order_number"]))
        assert paid.json()["payment_status"] == "completed"
        samples = await scrape(http)
    # Welcome, tickets and receipt for a first paid order (issue 4).
    assert value(samples, "payment_status_outbox_backlog") == 3
    assert value(samples, "payment_status_outbox_oldest_seconds") >= 0


async def test_broker_reconnects_and_outage_show(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    redis = OwnRedis(tmp_path)
    redis.start()
    try:
        settings = make_settings("sqlite", "memory").with_overrides(redis_url=redis.url)
        async with served(settings) as (live, http):
            assert value(await scrape(http), "payment_status_broker_up") == 1
            redis.stop()
            await until(lambda: live.services.broker.reconnects >= 1)
            down = await scrape(http)
            assert value(down, "payment_status_broker_up") == 0
            assert value(down, "payment_status_broker_reconnects_total") >= 1
            redis.start()
            await until(lambda: live.services.broker.connected, timeout=15)  # type: ignore[attr-defined]
            # At once: the pool's connections from before the restart must not fail a ping.
            assert value(await scrape(http), "payment_status_broker_up") == 1
    finally:
        redis.stop()
