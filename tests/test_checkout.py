"""POST /api/orders and GET /api/events over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from server.settings import Settings
from server.store.tables import customers, orders, tickets
from tests.local_http import local_client
from tests.payhero_fixtures import ORDER, fake_payhero, live_settings
from tests.server_harness import RunningServer, run_server


@pytest.fixture
async def live(stack_settings: Settings) -> AsyncIterator[RunningServer]:
    # SANDBOX_DELAY long enough that the customer never answers during these tests.
    async with run_server(stack_settings.with_overrides(sandbox_delay=600.0)) as running:
        yield running


@pytest.fixture
async def client(live: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=100)
    async with local_client(live.base_url, timeout=30, limits=limits) as http:
        yield http


async def count(live: RunningServer, table: sa.Table) -> int:
    value = await live.services.database.fetch_val(sa.select(sa.func.count()).select_from(table))
    return int(value)


async def test_the_catalogue_lists_the_demo_event(client: httpx.AsyncClient) -> None:
    events = (await client.get("/api/events")).json()
    assert [e["slug"] for e in events] == ["demo-fest"]
    types = {t["slug"]: t for t in events[0]["ticket_types"]}
    assert (types["early-bird"]["price"], types["regular"]["price"]) == (300, 500)
    assert types["early-bird"]["currency"] == "KES" and types["early-bird"]["available"] > 0


async def test_an_order_is_stored_and_pushed(live: RunningServer, client: httpx.AsyncClient) -> None:
    response = await client.post("/api/orders", json={**ORDER, "quantity": 2})
    assert response.status_code == 201
    body = response.json()
    order_id = body["order_id"]
    assert body["payment_status"] == "processing" and body["version"] == 2
    assert body["amount"] == 600 and body["currency"] == "KES"
    assert body["status_url"] == f"/payment/{order_id}"
    assert body["events_url"] == f"/api/orders/{order_id}/events"
    assert body["wait_url"] == f"/api/orders/{order_id}/wait"
    assert not {"email", "phone", "first_name", "last_name"} & set(body)
    row = await live.services.database.fetch_one(orders.select().where(orders.c.id == order_id))
    assert row is not None
    assert row["checkout_request_id"] == f"ws_CO_SANDBOX_{body['order_number']}"
    assert row["payhero_reference"] == f"SANDBOX-{body['order_number']}"
    assert await count(live, tickets) == 2


@pytest.mark.parametrize(
    "phone", ["0712345678", "+254712345678", "254712345678", "0712 345 678", "712345678", "+254 712-345-678"]
)
async def test_phone_numbers_in_every_common_form_are_normalised(
    live: RunningServer, client: httpx.AsyncClient, phone: str
) -> None:
    response = await client.post("/api/orders", json={**ORDER, "phone": phone})
    assert response.status_code == 201
    stored = await live.services.database.fetch_val(sa.select(customers.c.phone))
    assert stored == "254712345678"


async def test_airtel_numbers_are_accepted(live: RunningServer, client: httpx.AsyncClient) -> None:
    response = await client.post("/api/orders", json={**ORDER, "phone": "0112345678"})
    assert response.status_code == 201
    assert await live.services.database.fetch_val(sa.select(customers.c.phone)) == "254112345678"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"phone": "0812345678"}, "phone"),
        ({"phone": "12345"}, "phone"),
        ({"email": "amina@"}, "email"),
        ({"first_name": ""}, "first_name"),
        ({"last_name": "R2D2"}, "last_name"),
        ({"quantity": 0}, "quantity"),
        ({"quantity": 11}, "quantity"),
        ({"quantity": "two"}, "quantity"),
        ({"quantity": True}, "quantity"),
        ({"event": "no-such-fest"}, "event"),
        ({"ticket_type": "vvip"}, "ticket_type"),
        ({"email": None}, "email"),
    ],
)
async def test_invalid_fields_get_a_422_naming_them_and_store_nothing(
    live: RunningServer, client: httpx.AsyncClient, changes: dict[str, Any], field: str
) -> None:
    response = await client.post("/api/orders", json={**ORDER, **changes})
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "validation_error" and field in body["fields"]
    assert await count(live, orders) == 0 and await count(live, customers) == 0


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b"\xff\xfe", b""])
async def test_a_body_that_is_not_a_json_object_is_a_clear_error(
    live: RunningServer, client: httpx.AsyncClient, raw: bytes
) -> None:
    response = await client.post("/api/orders", content=raw, headers={"content-type": "application/json"})
    assert response.status_code in (400, 422)
    assert response.json()["error"] in ("invalid_json", "validation_error")
    assert await count(live, orders) == 0


async def test_a_huge_body_is_refused(live: RunningServer, client: httpx.AsyncClient) -> None:
    response = await client.post("/api/orders", json={**ORDER, "first_name": "A" * 20_000})
    assert response.status_code == 413 and response.json()["error"] == "payload_too_large"
    assert await count(live, orders) == 0


async def test_a_provider_refusal_stores_the_order_as_failed_and_answers_502(
    stack_settings: Settings,
) -> None:
    async with fake_payhero(refuse_with=(400, "The channel is inactive")) as (_, url):
        async with run_server(live_settings(stack_settings, url)) as live:
            async with local_client(live.base_url) as http:
                response = await http.post("/api/orders", json=ORDER)
                assert response.status_code == 502
                body = response.json()
                assert body["error"] == "payment_provider_error"
                assert body["payment_status"] == "failed"
                assert body["result_desc"] == "The channel is inactive"
                stored = (await http.get(f"/api/orders/{body['order_id']}")).json()
                assert stored["payment_status"] == "failed" and stored["version"] == 2
                # The seat went back on sale.
                events = (await http.get("/api/events")).json()
                assert events[0]["ticket_types"][0]["available"] == 500


async def test_an_unreachable_provider_answers_502(stack_settings: Settings) -> None:
    from tests.backends import free_port

    settings = live_settings(stack_settings, f"http://127.0.0.1:{free_port()}")
    async with run_server(settings) as live, local_client(live.base_url) as http:
        response = await http.post("/api/orders", json=ORDER)
    assert response.status_code == 502 and response.json()["payment_status"] == "failed"


async def test_capacity_holds_under_concurrent_orders(stack_settings: Settings, tmp_path: Path) -> None:
    catalogue = tmp_path / "catalogue.json"
    catalogue.write_text(
        json.dumps(
            {
                "events": [
                    {
                        "slug": "demo-fest",
                        "name": "Small Fest",
                        "starts_at": "2099-12-12T16:00:00+03:00",
                        "ticket_types": [
                            {"slug": "early-bird", "name": "EB", "price": 300, "capacity": 7},
                        ],
                    }
                ]
            }
        )
    )
    settings = stack_settings.with_overrides(catalogue_file=catalogue, sandbox_delay=600.0)
    async with run_server(settings) as live:
        limits = httpx.Limits(max_connections=60)
        async with local_client(live.base_url, timeout=60, limits=limits) as http:
            responses = await asyncio.gather(
                *(
                    http.post(
                        "/api/orders", json={**ORDER, "quantity": 1 + i % 2, "email": f"c{i}@example.com"}
                    )
                    for i in range(40)
                )
            )
            codes = [r.status_code for r in responses]
            assert set(codes) <= {201, 422}
            sold = sum(r.json()["amount"] // 300 for r in responses if r.status_code == 201)
            assert sold <= 7 and sold >= 6  # never oversold; only a 2-seat order can be left out of 1
            refused = [r.json()["fields"] for r in responses if r.status_code == 422]
            assert all("quantity" in fields for fields in refused)
            left = (await http.get("/api/events")).json()[0]["ticket_types"][0]["available"]
            assert left == 7 - sold
            assert await count(live, tickets) == sold
