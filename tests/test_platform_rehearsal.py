"""Issue 19, "Done when": a deploy on a Procfile platform, played for real.

The Procfile's command with `PORT`, `DATABASE_URL=postgres://…` (a database of the test's
own), `WEB_CONCURRENCY=2`, live mode against a PayHero stand-in on a loopback port, with
Redis and then with PostgreSQL's LISTEN/NOTIFY as the broker (no `REDIS_URL`):

1. a payment applied in one worker reaches a waiter held by the other (the safety net is set
   to a minute, so only the broker can carry it before the hold ends);
2. sell and pay; a waiter is held on another order; SIGTERM as a deploy sends it; `DATA_DIR`
   is wiped (a new dyno's disk); the service starts again on the same port:
   every ticket sold before still verifies, PayHero's callback URL still works, and the waiter
   held across the restart gets its answer.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.payhero.fake import FakePayHero, Push, callback_body
from tests.backends import PostgresDatabases, free_port
from tests.local_http import local_client
from tests.payhero_fixtures import ORDER, TOKEN, fake_payhero
from tests.process_harness import ServiceProcess, start_service

pytestmark = pytest.mark.slow

SIGNING_KEY = "platform-rehearsal-signing-key-" + "k" * 16
WORKERS = 2


def platform_env(
    data_dir: Path, database_url: str, redis_url: str | None, payhero_url: str, port: int
) -> dict[str, str]:
    env = {
        "PORT": str(port),
        "WEB_CONCURRENCY": str(WORKERS),
        "DATA_DIR": str(data_dir),
        # As a platform's add-on writes it.
        "DATABASE_URL": "postgres://" + database_url.split("://", 1)[1],
        "DATABASE_POOL_SIZE": "4",
        "PAYHERO_MODE": "live",
        "PAYHERO_BASE_URL": payhero_url,
        "PAYHERO_API_USERNAME": "api-user",
        "PAYHERO_API_PASSWORD": "api-secret",
        "PAYHERO_CHANNEL_ID": "4242",
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "CALLBACK_TOKEN": TOKEN,
        "TICKET_SIGNING_KEY": SIGNING_KEY,
        "PUSH_LIMIT_PER_PHONE": "0",
        "PUSH_LIMIT_PER_IP": "0",
        # Only the broker can bring a change to the other worker's waiters before a hold ends.
        "SAFETY_NET_INTERVAL": "60",
        "LOG_LEVEL": "INFO",
    }
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


def one_connection(base_url: str) -> httpx.AsyncClient:
    """A client on a single kept-alive connection: every request reaches the same worker."""
    return local_client(base_url, timeout=60, limits=httpx.Limits(max_connections=1))


async def clients_on_two_workers(base_url: str) -> tuple[httpx.AsyncClient, httpx.AsyncClient]:
    """New connections until two land on different workers (the kernel spreads them)."""
    seen: dict[int, httpx.AsyncClient] = {}
    spare: list[httpx.AsyncClient] = []
    for _ in range(64):
        client = one_connection(base_url)
        pid = (await client.get("/readyz")).json()["process"]
        if pid in seen:
            spare.append(client)
        else:
            seen[pid] = client
        if len(seen) == WORKERS:
            break
    for client in spare:
        await client.aclose()
    assert len(seen) == WORKERS, "every connection reached one worker"
    first, second = seen.values()
    return first, second


def push_for(fake: FakePayHero, order: dict[str, Any]) -> Push:
    [push] = [p for p in fake.pushes.values() if p.external_reference == order["order_number"]]
    return push


async def pay(http: httpx.AsyncClient, fake: FakePayHero, order: dict[str, Any]) -> None:
    """PayHero's success callback, to the URL the service gave it with the push."""
    push = push_for(fake, order)
    body = callback_body(
        result="success",
        external_reference=push.external_reference,
        checkout_request_id=push.checkout_request_id,
        amount=push.amount,
        phone=push.phone,
    )
    answered = await http.post(push.callback_url, json=body)
    assert answered.status_code == 200, answered.text


async def sell(http: httpx.AsyncClient) -> dict[str, Any]:
    created = await http.post("/api/orders", json=ORDER)
    assert created.status_code == 201, created.text
    order: dict[str, Any] = created.json()
    assert order["payment_status"] == "processing"  # the STK push is with PayHero
    return order


async def held_somewhere(base_url: str, pid: int | None = None, at_least: int = 1) -> None:
    """Until a worker (`pid`, or any) reports a held waiter: fresh connections ask each in turn."""
    for _ in range(400):
        async with local_client(base_url, timeout=10) as http:
            ready = (await http.get("/readyz")).json()
        if (pid is None or ready["process"] == pid) and ready["waiters"] >= at_least:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the waiter was never held")


async def wait_across_restarts(base_url: str, order: dict[str, Any], back: asyncio.Event) -> dict[str, Any]:
    """What the page's long poll does: ask again after each answer, and after the service
    comes back when it was away, until the order is settled."""
    version = order["version"]
    while True:
        try:
            async with local_client(base_url, timeout=60) as http:
                response = await http.get(order["wait_url"], params={"since": version})
        except httpx.TransportError:
            await back.wait()
            continue
        if response.status_code == 503:
            # A draining process answers its held waits "restarting": ask the new one.
            await back.wait()
            continue
        assert response.status_code == 200, (response.status_code, response.text)
        answer: dict[str, Any] = response.json()
        if answer["payment_status"] not in {"pending", "processing"}:
            return answer
        version = answer["version"]


async def stop_as_a_deploy_does(service: ServiceProcess) -> None:
    service.signal(signal.SIGTERM)
    assert await asyncio.to_thread(service.wait, 60) in (0, -signal.SIGTERM), service.log()


@pytest.mark.parametrize("broker", ["redis", "postgres"])
async def test_a_deploy_on_a_procfile_platform(
    broker: str, tmp_path: Path, postgres: PostgresDatabases, request: pytest.FixtureRequest
) -> None:
    redis_url = request.getfixturevalue("redis_url") if broker == "redis" else None
    data_dir, port = tmp_path / "data", free_port()
    services: list[ServiceProcess] = []
    clients: list[httpx.AsyncClient] = []
    async with fake_payhero() as (fake, payhero_url):
        env = platform_env(data_dir, postgres.new_url(), redis_url, payhero_url, port)

        def start(name: str) -> ServiceProcess:
            return start_service(env, tmp_path, name=name, port=port, workers=WORKERS)

        try:
            first = await asyncio.to_thread(start, "first")
            services.append(first)
            base = first.base_url

            # 1. One worker applies the payment, the other's waiter hears it through the broker.
            on_a, on_b = await clients_on_two_workers(base)
            clients += [on_a, on_b]
            ready_b = (await on_b.get("/readyz")).json()
            assert ready_b["broker_kind"] == broker and ready_b["broker"] == "ok"
            sold = await sell(on_b)
            pid_a = (await on_a.get("/readyz")).json()["process"]
            waiter = asyncio.create_task(on_a.get(sold["wait_url"], params={"since": sold["version"]}))
            await held_somewhere(base, pid_a)
            assert (await on_b.get("/readyz")).json()["process"] == ready_b["process"]
            await pay(on_b, fake, sold)
            heard = (await waiter).json()
            assert heard["payment_status"] == "completed" and heard["timed_out"] is False
            tickets = [t["code"] for t in heard["tickets"]]
            assert tickets

            # 2. A waiter held across a deploy's restart, on a disk that is not kept.
            async with local_client(base, timeout=60) as http:
                unpaid = await sell(http)
            back = asyncio.Event()
            across = asyncio.create_task(wait_across_restarts(base, unpaid, back))
            await held_somewhere(base)
            await stop_as_a_deploy_does(first)
            for client in clients:
                await client.aclose()
            shutil.rmtree(data_dir)

            again = await asyncio.to_thread(start, "after-restart")
            services.append(again)
            back.set()
            async with local_client(base, timeout=60) as http:
                for code in tickets:
                    verified = await http.get("/api/tickets/verify", params={"code": code})
                    assert verified.status_code == 200, verified.text
                await held_somewhere(base)  # the waiter came back and is held again
                await pay(http, fake, unpaid)  # the callback URL PayHero was given before
            answer = await asyncio.wait_for(across, 60)
            assert answer["payment_status"] == "completed" and answer["tickets"]
            await stop_as_a_deploy_does(again)
        finally:
            for client in clients:
                await client.aclose()
            for service in services:
                if service.process.poll() is None:
                    service.signal(signal.SIGKILL)
                    service.process.wait(timeout=10)
