"""What a customer keeps: the event in the status document, and its calendar file."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import pytest

from server.catalogue import Event
from server.event_calendar import event_calendar
from server.settings import Settings
from tests.fulfilment_helpers import place, settled
from tests.local_http import local_client
from tests.server_harness import RunningServer, run_server

PERSONAL = ("amina", "otieno", "example.com", "0712", "254712")


@pytest.fixture
async def shop(make_settings: Callable[..., Settings]) -> AsyncIterator[RunningServer]:
    async with run_server(make_settings("sqlite", "memory", sandbox_delay=0.2)) as running:
        yield running


async def test_a_paid_document_names_its_event_and_each_ticket_type(shop: RunningServer) -> None:
    async with local_client(shop.base_url) as client:
        created = await place(client, "amina@example.com", quantity=2)
        # Before payment too: the page shows what is being paid for.
        # The demo event rolls to its next year once its sales end (server/sales_window.py).
        year = int(created["event"]["starts_at"][:4])
        assert created["event"] == {
            "slug": "demo-fest",
            "name": "Demo Fest 2026",
            "starts_at": f"{year}-12-12T16:00:00+03:00",
            "timezone": "Africa/Nairobi",
            "venue": "Uhuru Gardens, Nairobi",
            "ends_at": f"{year}-12-12T23:00:00+03:00",
        }
        paid = await settled(client, created["order_id"])
    assert paid["payment_status"] == "completed"
    assert paid["event"] == created["event"]
    assert [t["ticket_type_name"] for t in paid["tickets"]] == ["Early Bird", "Early Bird"]
    assert [t["ticket_type"] for t in paid["tickets"]] == ["early-bird", "early-bird"]


async def test_the_calendar_file_holds_the_event_and_nobody_s_name(shop: RunningServer) -> None:
    async with local_client(shop.base_url) as client:
        created = await place(client, "amina@example.com", quantity=1)
        response = await client.get(f"/api/orders/{created['order_id']}/calendar.ics")
        unknown = await client.get(f"/api/orders/{'x' * 24}/calendar.ics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    assert response.headers["content-disposition"] == 'attachment; filename="demo-fest.ics"'
    text = response.text
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    lines = text.split("\r\n")
    assert lines[0] == "BEGIN:VCALENDAR" and "END:VCALENDAR" in lines
    # 16:00 in Nairobi (UTC+3) is 13:00 UTC; the catalogue's end, 23:00, is 20:00 UTC.
    assert "DTSTART:20261212T130000Z" in lines and "DTEND:20261212T200000Z" in lines
    assert "SUMMARY:Demo Fest 2026" in lines
    assert "LOCATION:Uhuru Gardens\\, Nairobi" in lines
    assert "UID:demo-fest@127.0.0.1" in lines
    assert created["order_id"] not in text and created["order_number"] not in text
    assert not any(word in text.lower() for word in PERSONAL)
    assert unknown.status_code == 404 and unknown.json()["error"] == "order_not_found"


def test_long_calendar_lines_fold_at_75_octets_without_splitting_a_character() -> None:
    event = Event(
        slug="long",
        name="Tamasha la Muziki wa Pwani, Mombasa; usiku mzima — " * 3,
        starts_at="2026-12-12T16:00:00+03:00",
        venue="",
        ticket_types={},
    )
    text = event_calendar(event, "example.com", now=datetime(2026, 1, 1, tzinfo=UTC))
    physical = text.split("\r\n")
    assert all(len(line.encode("utf-8")) <= 75 for line in physical)
    unfolded = text.replace("\r\n ", "")
    summary = next(line for line in unfolded.split("\r\n") if line.startswith("SUMMARY:"))
    assert summary == "SUMMARY:" + event.name.replace(",", "\\,").replace(";", "\\;")
    assert "DTEND" not in text and "LOCATION" not in text
