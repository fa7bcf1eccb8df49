"""Sales close, and a second purchase is asked for, not taken by accident (issue 25)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from server.catalogue import Catalogue
from server.settings import DEFAULT_CATALOGUE, Settings
from server.store.tables import orders
from tests.fulfilment_helpers import place, settled
from tests.local_http import local_client
from tests.payhero_fixtures import ORDER as REPEAT_ORDER
from tests.server_harness import RunningServer, run_server

ENDED = {
    "slug": "last-year",
    "name": "Last Year's Fest",
    "starts_at": "2020-06-01T16:00:00+03:00",
    "ends_at": "2020-06-01T23:00:00+03:00",
    "venue": "Uhuru Gardens, Nairobi",
    "ticket_types": [{"slug": "regular", "name": "Regular", "price": 500, "capacity": 10}],
}

# A first purchase: the shared ORDER answers "Buy more?" yes, these tests ask it.
ORDER = {key: value for key, value in REPEAT_ORDER.items() if key != "confirm_repeat"}


def catalogue_with(tmp_path: Path, *events: dict[str, object]) -> Path:
    demo = json.loads(DEFAULT_CATALOGUE.read_text(encoding="utf-8"))["events"]
    path = tmp_path / "catalogue.json"
    path.write_text(json.dumps({"events": [*demo, *events]}), encoding="utf-8")
    return path


@pytest.fixture
async def live(stack_settings: Settings, tmp_path: Path) -> AsyncIterator[RunningServer]:
    settings = stack_settings.with_overrides(
        catalogue_file=catalogue_with(tmp_path, ENDED), sandbox_delay=0.2
    )
    async with run_server(settings) as running:
        yield running


async def stored_orders(live: RunningServer) -> int:
    return int(await live.services.database.fetch_val(sa.select(sa.func.count()).select_from(orders)))


@pytest.mark.parametrize("stack", [("sqlite", "memory")], indirect=True)
async def test_checkout_of_an_ended_event_is_refused_and_listed_as_closed(live: RunningServer) -> None:
    async with local_client(live.base_url) as http:
        listing = {event["slug"]: event for event in (await http.get("/api/events")).json()}
        assert listing["last-year"]["on_sale"] is False
        assert listing["last-year"]["sales_end"] == "2020-06-01T16:00:00+03:00"
        assert listing["demo-fest"]["on_sale"] is True
        body = {**ORDER, "event": "last-year", "ticket_type": "regular"}
        response = await http.post("/api/orders", json=body)
    assert response.status_code == 409
    assert response.json()["error"] == "sales_closed"
    assert await stored_orders(live) == 0, "nothing stored, no push"


@pytest.mark.parametrize("stack", [("sqlite", "memory"), ("postgres", "redis")], indirect=True)
async def test_a_second_order_for_a_paid_event_asks_first(live: RunningServer) -> None:
    async with local_client(live.base_url) as http:
        first = await place(http, "amina@example.com")
        assert (await settled(http, first["order_id"]))["payment_status"] == "completed"

        again = await http.post(
            "/api/orders", json={**ORDER, "email": "Amina@Example.com", "phone": "+254712345678"}
        )
        assert again.status_code == 409 and again.json()["error"] == "already_bought"
        assert await stored_orders(live) == 1

        # Someone else who knows the address (another phone) learns nothing and is not stopped.
        other = await http.post("/api/orders", json={**ORDER, "phone": "0722000001"})
        assert other.status_code == 201

        more = await http.post("/api/orders", json={**ORDER, "confirm_repeat": True})
        assert more.status_code == 201
    assert await stored_orders(live) == 3


def test_the_demo_event_rolls_to_its_next_year_on_sale(tmp_path: Path) -> None:
    before = Catalogue.load(DEFAULT_CATALOGUE, now=datetime(2026, 12, 12, 12, 0, tzinfo=UTC)).events[
        "demo-fest"
    ]
    assert before.starts_at == "2026-12-12T16:00:00+03:00"
    # Past its start (sales end then): the same day and time, a year on.
    after = Catalogue.load(DEFAULT_CATALOGUE, now=datetime(2026, 12, 12, 13, 0, tzinfo=UTC)).events[
        "demo-fest"
    ]
    assert after.starts_at == "2027-12-12T16:00:00+03:00" and after.ends_at == "2027-12-12T23:00:00+03:00"
    far = Catalogue.load(DEFAULT_CATALOGUE, now=datetime(2031, 3, 1, tzinfo=UTC)).events["demo-fest"]
    assert far.starts_at == "2031-12-12T16:00:00+03:00" and far.on_sale(datetime(2031, 3, 1, tzinfo=UTC))
    # A fixed event does not move.
    fixed = Catalogue.load(catalogue_with(tmp_path, ENDED), now=datetime(2031, 3, 1, tzinfo=UTC))
    assert fixed.events["last-year"].starts_at == ENDED["starts_at"]
