from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from server.settings import Settings
from tests.local_http import local_client
from tests.server_harness import run_server


@pytest.fixture
async def client(stack_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with run_server(stack_settings) as live, local_client(live.base_url) as http:
        yield http


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


async def test_readyz_reports_store_and_broker(client: httpx.AsyncClient, stack: tuple[str, str]) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["database"] == "ok" and body["broker"] == "ok"
    assert (body["store"], body["broker_kind"]) == (
        "postgresql" if stack[0] == "postgres" else "sqlite",
        stack[1],
    )


async def test_unknown_routes_and_methods_answer_json(client: httpx.AsyncClient) -> None:
    missing = await client.get("/no/such/page")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    wrong = await client.delete("/api/orders/abc")
    assert wrong.status_code == 405 and wrong.json()["error"] == "method_not_allowed"


async def test_readyz_says_degraded_without_the_broker(
    make_settings: object,
) -> None:
    from tests.backends import free_port

    settings = make_settings("sqlite", "memory")  # type: ignore[operator]
    settings = settings.with_overrides(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    async with run_server(settings) as live, local_client(live.base_url) as http:
        response = await http.get("/readyz")
    assert response.status_code == 200
    assert response.json()["broker"] == "degraded" and response.json()["database"] == "ok"
