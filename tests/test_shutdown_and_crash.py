"""Restarts as a platform does them: SIGTERM with waiters held, and kill -9 mid-callback."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from server.payhero.fake import callback_body
from server.settings import Settings
from tests.helpers import SSEReader
from tests.local_http import local_client
from tests.payhero_fixtures import ORDER, TOKEN
from tests.process_harness import running_service, sandbox_env
from tests.server_harness import until


async def test_sigterm_answers_held_waits_closes_streams_and_exits_fast(tmp_path: Path) -> None:
    # 300 waiters from one address on one order: past both waiter caps' defaults, so no caps.
    env = sandbox_env(
        tmp_path, WAIT_TIMEOUT="25", MAX_WAITERS_PER_CLIENT="0", MAX_WAITERS_PER_CLIENT_ORDER="0"
    )
    with running_service(env, tmp_path) as service:
        limits = httpx.Limits(max_connections=400, max_keepalive_connections=400)
        async with local_client(service.base_url, timeout=60, limits=limits) as http:
            order = (await http.post("/api/orders", json={**ORDER, "phone": "0712349999"})).json()

            async def long_poll() -> tuple[int, dict[str, object]]:
                response = await http.get(order["wait_url"], params={"since": order["version"]})
                return response.status_code, response.json()

            async def stream() -> int:
                events = 0
                async with http.stream("GET", order["events_url"]) as response:
                    sse = SSEReader(response)
                    while await sse.next_event() is not None:
                        events += 1
                return events

            polls = [asyncio.create_task(long_poll()) for _ in range(150)]
            streams = [asyncio.create_task(stream()) for _ in range(150)]
            # Wait until every waiter is held by the server, as the service itself reports; a
            # waiter refused (a cap) ends its task early and is reported, not waited for forever.
            while (await http.get("/readyz")).json().get("waiters", 0) < 300:
                refused = [task for task in polls + streams if task.done()]
                assert not refused, [task.result() for task in refused]
                await asyncio.sleep(0.05)

            signalled = time.monotonic()
            service.signal(signal.SIGTERM)
            results = await asyncio.wait_for(asyncio.gather(*polls), 10)
            streamed = await asyncio.wait_for(asyncio.gather(*streams), 10)
            exit_code = await asyncio.to_thread(service.wait, 15)
            took = time.monotonic() - signalled
    assert all(status == 200 for status, _ in results)
    assert all(body["payment_status"] == "processing" and body["version"] == 2 for _, body in results)
    assert streamed == [1] * 150  # the current status, then a clean end of stream
    # uvicorn re-raises the SIGTERM it handled once it has shut down cleanly.
    assert exit_code in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in service.log()
    assert took < 8, f"shutdown took {took:.1f}s"
    assert "draining: ended 300 wait(s)" in service.log()


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
async def test_kill_9_between_storing_and_applying_a_callback_loses_nothing(
    tmp_path: Path, store: str, make_settings: Callable[..., Settings]
) -> None:
    # On PostgreSQL the body is stored by the statement that also finds its order.
    env = sandbox_env(tmp_path)
    if store == "postgres":
        env["DATABASE_URL"] = make_settings("postgres").database_url
    with running_service({**env, "CRASH_POINT": "after-callback-stored"}, tmp_path, name="first") as first:
        async with local_client(first.base_url, timeout=30) as http:
            order = (await http.post("/api/orders", json={**ORDER, "phone": "0712349999"})).json()
            body = callback_body(
                result="success",
                external_reference=order["order_number"],
                checkout_request_id=f"ws_CO_SANDBOX_{order['order_number']}",
                amount=order["amount"],
                phone="254712349999",
            )
            try:
                response = await http.post(f"/api/payhero/callback/{TOKEN}", json=body)
                acknowledged = response.is_success
            except httpx.HTTPError:
                acknowledged = False
        assert not acknowledged  # PayHero never got a 2xx, so it may send it again
        assert await asyncio.to_thread(first.wait, 10) == -signal.SIGKILL
        assert "CRASH_POINT after-callback-stored reached" in first.log()

    with running_service(env, tmp_path, name="second") as second:
        async with local_client(second.base_url, timeout=30) as http:
            # The stored callback is applied at start, once.
            waited = (await http.get(order["wait_url"], params={"since": 2, "timeout": 10})).json()
            assert waited["payment_status"] == "completed" and waited["version"] == 3
            # PayHero's retry of the same callback is recognised as a duplicate.
            retry = await http.post(f"/api/payhero/callback/{TOKEN}", content=json.dumps(body))
            assert retry.status_code == 200 and retry.json()["payment_status"] == "completed"
            final = (await http.get(f"/api/orders/{order['order_id']}")).json()
    assert final["version"] == 3 and final["receipt_number"] == body["response"]["MpesaReceiptNumber"]
    assert "replayed 1 stored callback(s)" in second.log()


async def test_kill_9_between_outbox_write_and_send_loses_no_email(tmp_path: Path) -> None:
    env = sandbox_env(tmp_path, SANDBOX_DELAY="0.2", OUTBOX_LEASE="1", SMTP_TIMEOUT="0.5")
    with running_service({**env, "CRASH_POINT": "before-email-sent"}, tmp_path, name="first") as first:
        async with local_client(first.base_url, timeout=30) as http:
            order = (await http.post("/api/orders", json=ORDER)).json()
        # The customer pays, the order commits with its outbox rows, and the worker dies
        # holding the first row's lease, before anything was sent.
        assert await asyncio.to_thread(first.wait, 30) == -signal.SIGKILL
        assert "CRASH_POINT before-email-sent reached" in first.log()
    outbox_dir = tmp_path / "data" / "outbox"
    assert not list(outbox_dir.glob("*.eml"))

    with running_service(env, tmp_path, name="second") as second:
        async with local_client(second.base_url, timeout=30) as http:
            final = (await http.get(f"/api/orders/{order['order_id']}")).json()
            # The other process's only outward sign is its log: wait for three sends there.
            await until(lambda: second.log().count("e-mail sent") >= 3, timeout=30, interval=0.1)
    assert final["payment_status"] == "completed" and final["version"] == 3
    sent = [line for line in second.log().splitlines() if "e-mail sent" in line]
    assert len(sent) == 3, second.log()
    assert sorted(line.split("kind=")[1].split()[0] for line in sent) == ["receipt", "tickets", "welcome"]
    assert len(list(outbox_dir.glob("*.eml"))) == 3
