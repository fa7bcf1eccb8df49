"""The organiser's desk API against the real service (uvicorn, sandbox PayHero, real stores).

What an organiser relies on: only a desk token opens it, and its name is on every action;
a payment held for review can be completed once (tickets and e-mails once) or closed with a
note, both in the order's story; an order is found by number, phone digits or e-mail; the
exports are whole CSV files.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import pytest_asyncio
import sqlalchemy as sa

from server.settings import Settings
from server.store import Database
from server.store.tables import desk_actions
from tests.fulfilment_helpers import SILENT_PHONE, all_sent, eventually, outbox_rows, place, settled
from tests.local_http import local_client
from tests.payhero_fixtures import TOKEN, sandbox_callback
from tests.server_harness import RunningServer, run_server

ALICE = "alice-desk-token-0123456789abcdef"
BOB = "bob-desk-token-0123456789abcdef01"
DESK_TOKEN = f"alice:{ALICE},bob:{BOB}"
GATE_TOKEN = "gate-staff-token-for-desk-tests-0123"


def as_(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest_asyncio.fixture
async def desk(
    stack: tuple[str, str], make_settings: Callable[..., Settings]
) -> AsyncIterator[RunningServer]:
    settings = make_settings(
        *stack,
        sandbox_delay=0.05,
        env={"DESK_TOKEN": DESK_TOKEN, "CALLBACK_TOKEN": TOKEN, "GATE_TOKEN": GATE_TOKEN},
    )
    async with run_server(settings) as running:
        yield running


async def held_order(http: httpx.AsyncClient, email: str) -> dict[str, Any]:
    """An order whose customer paid 1 KES less than asked: held for review (amount_mismatch)."""
    order = await place(http, email, phone=SILENT_PHONE, quantity=1)
    body = sandbox_callback(order)
    body["response"]["Amount"] = order["amount"] - 1
    answer = await http.post(f"/api/payhero/callback/{TOKEN}", json=body)
    assert answer.json().get("review") == "amount_mismatch", answer.text
    return order


async def test_only_a_desk_token_opens_the_desk_and_its_name_is_known(desk: RunningServer) -> None:
    async with local_client(desk.base_url) as http:
        assert (await http.get("/api/desk/sales")).status_code == 401
        refused = await http.get("/api/desk/sales", headers=as_("not-a-desk-token-at-all"))
        assert refused.status_code == 401
        assert refused.json()["error"] == "unauthorized"
        assert (await http.get("/api/desk/me", headers=as_(BOB))).json() == {"name": "bob"}
        sales = (await http.get("/api/desk/sales", headers=as_(ALICE))).json()
        early = sales["events"][0]["ticket_types"][0]
        assert (
            early["slug"] == "early-bird" and early["sold"] == 0 and early["seats_left"] == early["capacity"]
        )


async def test_without_desk_token_the_desk_is_refused(make_settings: Callable[..., Settings]) -> None:
    async with (
        run_server(make_settings("sqlite", "memory")) as running,
        local_client(running.base_url) as http,
    ):
        answer = await http.get("/api/desk/sales", headers=as_(ALICE))
        assert answer.status_code == 503
        assert answer.json()["error"] == "desk_disabled"


async def test_complete_issues_tickets_and_e_mails_once_and_the_story_says_who(desk: RunningServer) -> None:
    async with local_client(desk.base_url) as http:
        order = await held_order(http, "wanjiru@example.com")
        queue = (await http.get("/api/desk/reviews", headers=as_(ALICE))).json()["held"]
        [held] = [item for item in queue if item["order"]["order_id"] == order["order_id"]]
        assert "different amount" in held["reason"]
        assert '"Amount": 299' in held["callbacks"][0]["body"].replace('"Amount":299', '"Amount": 299')

        url = f"/api/desk/orders/{order['order_id']}"
        missing = await http.post(url + "/complete", json={}, headers=as_(ALICE))
        assert missing.status_code == 422 and "receipt" in missing.json()["fields"]
        done = await http.post(url + "/complete", json={"receipt": "SAE3YULR0Y"}, headers=as_(ALICE))
        assert done.status_code == 200, done.text
        assert done.json()["payment_status"] == "completed"
        again = await http.post(url + "/complete", json={"receipt": "SAE3YULR0Y"}, headers=as_(BOB))
        assert again.status_code == 409

        await eventually(lambda: all_sent(desk.services.database))
        kinds = sorted(row["kind"] for row in await outbox_rows(desk.services.database, order["order_id"]))
        assert kinds == ["receipt", "tickets", "welcome"]
        story = (await http.get(url, headers=as_(BOB))).json()
        assert story["review_open"] is False
        assert len(story["tickets"]) == 1 and story["tickets"][0]["code"]
        assert [(a["action"], a["actor"], a["receipt_number"]) for a in story["actions"]] == [
            ("complete", "alice", "SAE3YULR0Y")
        ]
        assert story["changes"][-1]["to_status"] == "completed"
        assert story["callbacks"][0]["outcome"] == "review: amount_mismatch"
        queue = (await http.get("/api/desk/reviews", headers=as_(ALICE))).json()["held"]
        assert order["order_id"] not in [item["order"]["order_id"] for item in queue]

        resent = await http.post(url + "/resend-tickets", headers=as_(BOB))
        assert resent.status_code == 202, resent.text
        await eventually(lambda: all_sent(desk.services.database))
        kinds = sorted(row["kind"] for row in await outbox_rows(desk.services.database, order["order_id"]))
        assert kinds == ["receipt", "tickets", "tickets", "welcome"]


async def actions_of(database: Database, order_id: str) -> list[tuple[str, str]]:
    rows = await database.fetch_all(
        sa.select(desk_actions.c.action, desk_actions.c.actor)
        .where(desk_actions.c.order_id == order_id)
        .order_by(desk_actions.c.id)
    )
    return [(row["action"], row["actor"]) for row in rows]


async def test_complete_and_close_commit_with_who_did_them_or_not_at_all(desk: RunningServer) -> None:
    database = desk.services.database
    async with local_client(desk.base_url) as http:
        to_complete = await held_order(http, "atomic@example.com")
        to_close = await held_order(http, "atomic.close@example.com")
        complete_url = f"/api/desk/orders/{to_complete['order_id']}/complete"
        close_url = f"/api/desk/orders/{to_close['order_id']}/close"

        # Where the actor cannot be written, the change is not written either.
        await database.execute(sa.text("ALTER TABLE desk_actions RENAME TO desk_actions_away"))
        try:
            failed = await http.post(complete_url, json={"receipt": "SAE3YULR2B"}, headers=as_(ALICE))
            assert failed.status_code == 500 and "Traceback" not in failed.text
            failed = await http.post(close_url, json={"note": "Refunded by reversal"}, headers=as_(ALICE))
            assert failed.status_code == 500
        finally:
            await database.execute(sa.text("ALTER TABLE desk_actions_away RENAME TO desk_actions"))
        for order in (to_complete, to_close):
            story = (await http.get(f"/api/desk/orders/{order['order_id']}", headers=as_(BOB))).json()
            assert story["order"]["payment_status"] == order["payment_status"]
            assert story["review_open"] and story["actions"] == []
            assert all(ticket["code"] is None for ticket in story["tickets"]), "no ticket signed"
            assert story["changes"][-1]["to_status"] == order["payment_status"]
        assert await outbox_rows(database, to_complete["order_id"]) == []

        # Applied: the change and its actor, together; not applied: neither a change nor a row.
        done = await http.post(complete_url, json={"receipt": "SAE3YULR2B"}, headers=as_(BOB))
        assert done.status_code == 200, done.text
        again = await http.post(complete_url, json={"receipt": "SAE3YULR2C"}, headers=as_(ALICE))
        assert again.status_code == 409
        assert await actions_of(database, to_complete["order_id"]) == [("complete", "bob")]
        closed = await http.post(close_url, json={"note": "Refunded by reversal"}, headers=as_(BOB))
        assert closed.json()["payment_status"] == "cancelled"
        assert await actions_of(database, to_close["order_id"]) == [("close", "bob")]


async def test_close_needs_a_note_and_records_it(desk: RunningServer) -> None:
    async with local_client(desk.base_url) as http:
        order = await held_order(http, "otieno@example.com")
        url = f"/api/desk/orders/{order['order_id']}"
        without = await http.post(url + "/close", json={"note": "  "}, headers=as_(BOB))
        assert without.status_code == 422
        closed = await http.post(
            url + "/close", json={"note": "Refunded 299 by M-PESA reversal"}, headers=as_(BOB)
        )
        assert closed.status_code == 200, closed.text
        assert closed.json()["payment_status"] == "cancelled"
        story = (await http.get(url, headers=as_(ALICE))).json()
        assert [(a["action"], a["actor"], a["note"]) for a in story["actions"]] == [
            ("close", "bob", "Refunded 299 by M-PESA reversal")
        ]
        assert story["review_open"] is False


async def test_the_door_counts_check_ins_per_ticket_type_and_per_gate(desk: RunningServer) -> None:
    async with local_client(desk.base_url) as http:
        order = await place(http, "door@example.com", quantity=4)
        codes = [ticket["code"] for ticket in (await settled(http, order["order_id"]))["tickets"]]
        gate = {"Authorization": f"Bearer {GATE_TOKEN}"}
        # Two through North, one through South, one from a phone that named no gate; the
        # same ticket again at South is refused and counts nowhere.
        for code, door in zip(codes, ["North", "South", "North", None], strict=True):
            body = {"code": code} if door is None else {"code": code, "gate": door}
            checked = await http.post("/api/tickets/check-in", json=body, headers=gate)
            assert checked.status_code == 200, checked.text
        again = await http.post(
            "/api/tickets/check-in", json={"code": codes[0], "gate": "South"}, headers=gate
        )
        assert again.status_code == 409

        answer = (await http.get("/api/desk/door", headers=as_(ALICE))).json()
        assert "per_gate_recorded" not in answer
        [event] = answer["events"]
        early = next(kind for kind in event["ticket_types"] if kind["slug"] == "early-bird")
        assert (early["issued"], early["checked_in"]) == (4, 4)
        expected = [
            {"gate": "North", "checked_in": 2},
            {"gate": "South", "checked_in": 1},
            {"gate": None, "checked_in": 1},
        ]
        assert early["gates"] == expected
        assert event["gates"] == expected, "the event's gates count every ticket type"
        others = [kind for kind in event["ticket_types"] if kind["slug"] != "early-bird"]
        assert all(kind["gates"] == [] and kind["checked_in"] == 0 for kind in others)

        story = (await http.get(f"/api/desk/orders/{order['order_id']}", headers=as_(BOB))).json()
        assert sorted(str(t["gate"]) for t in story["tickets"]) == ["None", "North", "North", "South"]


async def test_ask_payhero_again_records_its_answer(desk: RunningServer) -> None:
    async with local_client(desk.base_url) as http:
        order = await held_order(http, "akinyi@example.com")
        url = f"/api/desk/orders/{order['order_id']}"
        asked = await http.post(url + "/ask-payhero", headers=as_(ALICE))
        assert asked.status_code == 200, asked.text
        [answer] = asked.json()["answers"].values()
        assert "status" in answer or "error" in answer
        queue = (await http.get("/api/desk/reviews", headers=as_(ALICE))).json()["held"]
        [held] = [item for item in queue if item["order"]["order_id"] == order["order_id"]]
        assert held["payhero_answer"] == asked.json()


async def test_search_by_number_phone_digits_and_e_mail(desk: RunningServer) -> None:
    async with local_client(desk.base_url) as http:
        order = await place(http, "Search.Me@example.com", phone=SILENT_PHONE, quantity=1)
        for query in (order["order_number"], order["order_number"].lower(), "9999", "search.me@example.com"):
            found = (await http.get("/api/desk/orders", params={"q": query}, headers=as_(ALICE))).json()
            assert order["order_id"] in [line["order_id"] for line in found["orders"]], query
        assert (await http.get("/api/desk/orders", params={"q": "12"}, headers=as_(ALICE))).status_code == 422
        nobody = await http.get("/api/desk/orders/not-an-order-id-at-all-xx", headers=as_(ALICE))
        assert nobody.status_code == 404


async def test_exports_are_whole_csv_files(desk: RunningServer) -> None:
    async with local_client(desk.base_url) as http:
        order = await held_order(http, "export@example.com")
        await http.post(
            f"/api/desk/orders/{order['order_id']}/complete",
            json={"receipt": "SAE3YULR0Z"},
            headers=as_(ALICE),
        )
        assert (await http.get("/api/desk/exports/payments.csv")).status_code == 401
        payments = await http.get("/api/desk/exports/payments.csv", headers=as_(ALICE))
        assert payments.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(payments.text)))
        [paid] = [row for row in rows if row["order_number"] == order["order_number"]]
        assert paid["receipt_number"] == "SAE3YULR0Z" and paid["status"] == "completed"
        assert paid["paid_at"].endswith("EAT")
        attendees = await http.get("/api/desk/exports/attendees.csv", headers=as_(ALICE))
        rows = list(csv.DictReader(io.StringIO(attendees.text)))
        assert [row["order_number"] for row in rows] == [order["order_number"]]
        assert rows[0]["holder"] and rows[0]["ticket_type"] == "Early Bird" and rows[0]["checked_in_at"] == ""


@pytest.mark.parametrize("stack", [("sqlite", "memory")], indirect=True)
async def test_the_command_line_completes_through_the_same_function(
    desk: RunningServer, make_settings: Callable[..., Settings]
) -> None:
    from tests.fulfilment_helpers import run_cli

    async with local_client(desk.base_url) as http:
        order = await held_order(http, "cli@example.com")
        code, out = await run_cli(
            desk.services.settings, "complete-order", order["order_number"], "--receipt", "SAE3YULR1A"
        )
        assert code == 0, out
        story = (await http.get(f"/api/desk/orders/{order['order_id']}", headers=as_(ALICE))).json()
        assert [(a["action"], a["actor"]) for a in story["actions"]] == [("complete", "command line")]
