"""What the service gives away: CORS, personal data on status routes, secrets and phones in logs."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from server.settings import Settings
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
    async with run_server(make_settings()) as live, httpx.AsyncClient(base_url=live.base_url) as http:
        simple = await http.get("/api/events", headers={"Origin": EVIL})
        options = await http.options("/api/orders", headers=preflight(EVIL))
    assert simple.status_code == 200
    assert "access-control-allow-origin" not in simple.headers
    # No CORS layer at all: a preflight is just a method the route does not have.
    assert options.status_code == 405 and options.json()["error"] == "method_not_allowed"
    assert "access-control-allow-origin" not in options.headers


async def test_configured_origins_and_only_those_are_allowed(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings().with_overrides(cors_origins=(SHOP,))
    async with run_server(settings) as live, httpx.AsyncClient(base_url=live.base_url) as http:
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
