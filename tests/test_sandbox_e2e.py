"""The whole path in sandbox mode, through a real uvicorn: checkout, STK push, the simulated
customer's answer as a real callback over HTTP, and both transports telling the browser."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from server.cli.simulate_commands import simulate
from server.payments.expiry import ExpiryWorker
from server.settings import Settings
from tests.helpers import SSEReader
from tests.local_http import local_client
from tests.payhero_fixtures import ORDER
from tests.server_harness import RunningServer, run_server, until


@pytest.fixture
async def live(stack_settings: Settings) -> AsyncIterator[RunningServer]:
    async with run_server(stack_settings.with_overrides(sandbox_delay=0.3)) as running:
        yield running


@pytest.mark.parametrize("shape", ["v2", "flat"])
@pytest.mark.parametrize(
    ("suffix", "status", "code"),
    [
        ("5678", "completed", 0),
        ("1032", "cancelled", 1032),
        ("0001", "failed", 1),
        ("1037", "expired", 1037),
        ("2001", "failed", 2001),
    ],
)
async def test_each_sandbox_outcome_reaches_sse_and_wait(
    stack_settings: Settings, suffix: str, status: str, code: int, shape: str
) -> None:
    """In either callback shape (PAYHERO_CALLBACK_SHAPE): the flat one words its outcome."""
    settings = stack_settings.with_overrides(sandbox_delay=0.3, payhero_callback_shape=shape)
    async with run_server(settings) as live, local_client(live.base_url, timeout=30) as http:
        created = await http.post("/api/orders", json={**ORDER, "phone": f"071234{suffix}"})
        assert created.status_code == 201
        order = created.json()
        wait = asyncio.create_task(http.get(order["wait_url"], params={"since": order["version"]}))
        async with http.stream("GET", order["events_url"]) as response:
            sse = SSEReader(response)
            events = []
            while (event := await sse.next_event()) is not None:
                events.append(event["data"])
        waited = (await wait).json()
    final = events[-1]
    assert final["payment_status"] == status and final["result_code"] == code
    assert waited["payment_status"] == status and waited["timed_out"] is False
    if status == "completed":
        assert final["receipt_number"] and final["receipt_number"] == waited["receipt_number"]


async def test_no_answer_expires_after_a_status_check(live: RunningServer) -> None:
    async with local_client(live.base_url, timeout=30) as http:
        order = (await http.post("/api/orders", json={**ORDER, "phone": "0712349999"})).json()
        wait = asyncio.create_task(http.get(order["wait_url"], params={"since": 2}))
        await until(lambda: live.services.hub.watch_count == 1)
        svc = live.services
        worker = ExpiryWorker(svc.database, svc.changes, svc.payhero, expiry_seconds=0.0, interval=60)
        assert await worker.run_once() == 1
        waited = (await wait).json()
    assert waited["payment_status"] == "expired"


async def test_a_lost_success_callback_is_recovered_by_the_expiry_check(live: RunningServer) -> None:
    async with local_client(live.base_url, timeout=30) as http:
        order = (await http.post("/api/orders", json={**ORDER, "phone": "0712349999"})).json()
        sandbox = live.services.sandbox
        assert sandbox is not None
        push = sandbox.pushes[f"SANDBOX-{order['order_number']}"]
        sandbox.settle(push, "success")  # paid, but the callback never comes
        svc = live.services
        worker = ExpiryWorker(svc.database, svc.changes, svc.payhero, expiry_seconds=0.0, interval=60)
        await worker.run_once()
        document = (await http.get(f"/api/orders/{order['order_id']}")).json()
    assert document["payment_status"] == "completed" and document["receipt_number"] == push.receipt


@pytest.mark.parametrize("shape", ["v2", "flat"])
async def test_simulate_sends_a_callback_to_the_running_service(live: RunningServer, shape: str) -> None:
    async with local_client(live.base_url, timeout=30) as http:
        order = (await http.post("/api/orders", json={**ORDER, "phone": "0712349999"})).json()
        result = await simulate(live.services.settings, order["order_number"], "cancelled", None, shape=shape)
        assert result == 0
        document = (await http.get(f"/api/orders/{order['order_id']}")).json()
    assert document["payment_status"] == "cancelled" and document["result_code"] == 1032


async def test_simulate_reaches_the_service_on_port_not_the_public_url(live: RunningServer) -> None:
    """PUBLIC_BASE_URL may be a tunnel or the public name; the service itself is on PORT."""
    settings = live.services.settings.with_overrides(public_base_url="https://pay.example.invalid")
    async with local_client(live.base_url, timeout=30) as http:
        order = (await http.post("/api/orders", json={**ORDER, "phone": "0712349999"})).json()
        assert await simulate(settings, order["order_number"], "success", None) == 0
        document = (await http.get(f"/api/orders/{order['order_id']}")).json()
        assert document["payment_status"] == "completed"
        elsewhere = settings.with_overrides(port=1)
        assert await simulate(elsewhere, order["order_number"], "success", None, url=live.base_url) == 0


async def test_the_sandbox_says_at_start_that_it_takes_no_money(
    make_settings: Callable[..., Settings], capsys: pytest.CaptureFixture[str]
) -> None:
    async with run_server(make_settings("sqlite", "memory")):
        pass
    assert "PAYHERO_MODE=sandbox: no real payments" in capsys.readouterr().err
