"""What the service gives away: CORS, personal data on status routes, secrets and phones in logs."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from itertools import pairwise as pairs

import httpx
import pytest

from server.logs import mask_phone
from server.settings import Settings
from tests.local_http import local_client
from tests.ops_helpers import checkout_body
from tests.server_harness import run_server

SHOP = "https://shop.example.com"
EVIL = "https://evil.example.net"


def preflight(origin: str, method: str = "POST") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "content-type",
    }


async def test_cors_is_closed_unless_configured(make_settings: Callable[..., Settings]) -> None:
    async with run_server(make_settings()) as live, local_client(live.base_url) as http:
        simple = await http.get("/api/events", headers={"Origin": EVIL})
        options = await http.options("/api/orders", headers=preflight(EVIL))
    assert simple.status_code == 200
    assert "access-control-allow-origin" not in simple.headers
    # No CORS layer at all: a preflight is just a method the route does not have.
    assert options.status_code == 405 and options.json()["error"] == "method_not_allowed"
    assert "access-control-allow-origin" not in options.headers


async def test_configured_origins_and_only_those_are_allowed(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings().with_overrides(cors_origins=(SHOP,))
    async with run_server(settings) as live, local_client(live.base_url) as http:
        allowed = await http.options("/api/orders", headers=preflight(SHOP))
        simple = await http.get("/api/events", headers={"Origin": SHOP})
        refused = await http.options("/api/orders", headers=preflight(EVIL))
        wrong_method = await http.options("/api/orders", headers=preflight(SHOP, "DELETE"))
        other = await http.get("/api/events", headers={"Origin": EVIL})
    assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == SHOP
    assert "access-control-allow-credentials" not in allowed.headers
    assert simple.headers["access-control-allow-origin"] == SHOP
    for response in (refused, wrong_method):
        assert response.status_code == 400 and response.json()["error"] == "cors_refused"
        assert response.headers.get("access-control-allow-origin") != EVIL
    assert "access-control-allow-origin" not in other.headers


CUSTOMER = {
    "email": "wanjiru.kamau@example.com",
    "first_name": "Wanjiru",
    "last_name": "Kamau",
    "phone": "0712345678",
}
PHONE_FORMS = ["0712345678", "254712345678", "712345678"]


def with_secrets(settings: Settings) -> Settings:
    """Every kind of secret the service can hold, set to values a test can look for."""
    database_url = settings.database_url
    if database_url.startswith("postgresql"):
        # The test server trusts local connections, so any password is accepted and ignored.
        database_url = database_url.replace("//postgres@", "//postgres:db-Secret-4f1c@", 1)
    return settings.with_overrides(
        database_url=database_url,
        payhero_password="payhero-Secret-9e2a",
        metrics_token="metrics-Secret-77d0",
        log_level="DEBUG",
        log_format="json",
        log_requests=True,
        sandbox_delay=0.05,
    )


async def walk_through_a_payment(http: httpx.AsyncClient, callback_path: str) -> dict[str, object]:
    """Checkout, the sandbox's callback, every status route, and a few refused callbacks."""
    created = await http.post("/api/orders", json=checkout_body(**CUSTOMER))
    assert created.status_code == 201, created.text
    order_id = created.json()["order_id"]
    final = await http.get(f"/api/orders/{order_id}/wait", params={"since": 1, "timeout": 10})
    if final.json()["payment_status"] == "processing":
        final = await http.get(f"/api/orders/{order_id}/wait", params={"since": 2, "timeout": 10})
    assert final.json()["payment_status"] == "completed"
    responses = [created, final, await http.get(f"/api/orders/{order_id}")]
    async with http.stream("GET", f"/api/orders/{order_id}/events") as stream:
        # Terminal already: the stream sends the status and ends by itself.
        responses.append(stream)
        body = (await stream.aread()).decode()
    assert await http.post(callback_path, content=b"{}") is not None
    assert (await http.post("/api/payhero/callback/" + "x" * 43, content=b"{}")).status_code == 404
    return {"responses": responses, "stream": body, "order_id": order_id}


async def test_status_routes_carry_no_personal_data(stack_settings: Settings) -> None:
    settings = stack_settings.with_overrides(sandbox_delay=0.05)
    async with run_server(settings) as live, local_client(live.base_url, timeout=20) as http:
        token = live.services.settings.callback_token
        walked = await walk_through_a_payment(http, f"/api/payhero/callback/{token}")
        status_texts = [r.text for r in walked["responses"][1:]] + [str(walked["stream"])]  # type: ignore[index]
    for text in status_texts:
        for personal in [*CUSTOMER.values(), *PHONE_FORMS, "customer_id"]:
            assert personal not in text


async def test_order_ids_are_unguessable(stack_settings: Settings) -> None:
    async with run_server(stack_settings) as live:
        ids = [(await live.services.changes.create({"amount": 300})).order_id for _ in range(200)]
    assert len(set(ids)) == len(ids)
    alphabet = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    for order_id in ids:
        # URL-safe base64 of at least 16 random bytes: at least 22 characters of 6 bits each.
        assert len(order_id) >= 22 and set(order_id) <= alphabet
    # Not a counter or a timestamp: consecutive ids share no long common prefix.
    shared = [
        next((i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y), len(a)) for a, b in pairs(ids)
    ]
    assert max(shared) < 6


async def test_logs_carry_no_secrets_and_no_customer_details(
    stack_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = with_secrets(stack_settings)
    async with run_server(settings) as live, local_client(live.base_url, timeout=20) as http:
        # What `uvicorn --log-level info` (the Procfile's default) logs: one line per request.
        logging.getLogger("uvicorn.access").setLevel(logging.INFO)
        token = live.services.settings.callback_token
        await walk_through_a_payment(http, f"/api/payhero/callback/{token}")
    captured = capsys.readouterr()
    output = captured.err + captured.out
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]
    assert len(lines) > 10, output  # LOG_FORMAT=json: every line parsed as JSON
    for secret in [token, *settings.secret_values()]:
        assert secret not in output
    for personal in [*CUSTOMER.values(), *PHONE_FORMS]:
        assert personal not in output
    assert mask_phone("254712345678") in output  # the checkout's line, masked
    access = [line["message"] for line in lines if line["logger"] == "uvicorn.access"]
    assert any("/api/payhero/callback/*** " in message for message in access), access
    # LOG_REQUESTS: our own request lines, structured, with route templates instead of paths.
    requests = [line for line in lines if line["logger"] == "server.access"]
    assert {"POST /api/orders", "POST /api/payhero/callback/{token}"} <= {
        f"{line['method']} {line['route']}" for line in requests
    }
    assert all(isinstance(line["status"], int) and line["duration_ms"] >= 0 for line in requests)
