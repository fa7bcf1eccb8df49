"""The gate on event night, through HTTP: short codes typed any way, several doors at once, the
token checked on entry, the event's end, and the limits on guessing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from server.settings import Settings
from server.tickets.short_codes import ALPHABET, DATA_LENGTH, check_symbol
from tests.gate_helpers import GATE, GATE_TOKEN, ended_catalogue, paid_tickets
from tests.local_http import local_client
from tests.server_harness import RunningServer, run_server


@pytest.fixture
async def live(stack_settings: Settings) -> AsyncIterator[RunningServer]:
    async with run_server(
        stack_settings.with_overrides(sandbox_delay=0.2, gate_tokens=(GATE_TOKEN,))
    ) as running:
        yield running


@pytest.fixture
async def client(live: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with local_client(live.base_url, timeout=30) as http:
        yield http


def typed_ways(short: str) -> list[str]:
    """The ways an attendant or a mail app mangles `ABCDE-FGHJK-M`, all still that code."""
    compact = short.replace("-", "")
    return [
        short,
        short.lower(),
        compact,
        f" {compact[:5]} {compact[5:10]} {compact[10]} ",
        f"{short[:6]}\n{short[6:]}",
        f"{short}.",
        f'"{short.lower()}",',
        short.replace("-", "\u2013"),  # a mail app's en dash
    ]


async def test_a_short_code_typed_any_way_checks_in_and_a_forged_one_is_not_valid(
    client: httpx.AsyncClient,
) -> None:
    first, second = await paid_tickets(client, 2)
    short = first["short_code"]
    assert len(short) == 13 and short[5] == short[11] == "-"
    for typed in typed_ways(short):
        found = await client.get("/api/tickets/verify", params={"code": typed}, headers=GATE)
        assert found.status_code == 200, typed
        assert found.json()["ticket_id"] == first["ticket_id"]
    # Short codes are worth guessing: without a gate token, verify does not try them.
    public = await client.get("/api/tickets/verify", params={"code": short})
    assert public.status_code == 404 and public.json()["error"] == "ticket_not_valid"
    # The long code, wrapped over two lines with a full stop, is that ticket as well.
    long = first["code"]
    wrapped = await client.get("/api/tickets/verify", params={"code": f"{long[:20]}\r\n{long[20:]}."})
    assert wrapped.json()["ticket_id"] == first["ticket_id"]

    # A code with a valid check character that no ticket holds: not valid, and nothing changes.
    data = ("Z" if short[0] != "Z" else "Y") + short.replace("-", "")[1:DATA_LENGTH]
    forged = data + check_symbol(data)
    for wrong in (forged, short[:-1] + ALPHABET[(ALPHABET.index(short[-1]) + 1) % 32]):
        refused = await client.post(
            "/api/tickets/check-in", json={"code": wrong, "gate": "North"}, headers=GATE
        )
        assert refused.status_code == 404 and refused.json()["error"] == "ticket_not_valid", wrong

    admitted = await client.post(
        "/api/tickets/check-in", json={"code": typed_ways(short)[3], "gate": "North"}, headers=GATE
    )
    assert admitted.status_code == 200
    body = admitted.json()
    assert body["checked_in"] and body["checked_in_gate"] == "North"
    assert body["order"] == {"admitted": 1, "tickets": 2}
    assert body["event"]["timezone"] == "Africa/Nairobi"
    both = await client.post("/api/tickets/check-in", json={"code": second["short_code"]}, headers=GATE)
    assert both.json()["order"] == {"admitted": 2, "tickets": 2}
    assert both.json()["checked_in_gate"] is None, "a device that names no gate records none"


async def test_two_doors_scanning_one_ticket_at_once_admit_it_once(client: httpx.AsyncClient) -> None:
    (ticket,) = await paid_tickets(client, 1)
    doors = ["North", "South", "East", "West"]
    # Half the doors scan the QR (long code), half type the short code: all the same ticket.
    codes = [ticket["code"], ticket["short_code"]]
    answers = await asyncio.gather(
        *(
            client.post("/api/tickets/check-in", json={"code": codes[i % 2], "gate": door}, headers=GATE)
            for i, door in enumerate(doors)
        )
    )
    assert sorted(a.status_code for a in answers) == [200, 409, 409, 409]
    winner = next(a for a in answers if a.status_code == 200).json()
    winning_door = doors[[a.status_code for a in answers].index(200)]
    assert winner["checked_in_gate"] == winning_door
    for refused in (a.json() for a in answers if a.status_code == 409):
        assert refused["error"] == "already_checked_in"
        assert refused["ticket"]["checked_in_gate"] == winning_door
        assert refused["ticket"]["checked_in_at"] == winner["checked_in_at"]
        assert winning_door in refused["message"]


async def test_the_gate_token_is_checked_on_entry(live: RunningServer, client: httpx.AsyncClient) -> None:
    session = await client.get("/api/gate/session", headers=GATE)
    assert session.status_code == 200 and session.headers["cache-control"] == "no-store"
    (event,) = session.json()["events"]
    assert event["slug"] == "demo-fest" and event["timezone"] == "Africa/Nairobi"
    assert (
        event["ends_at"] == "2026-12-12T23:00:00+03:00" and event["closes_at"] == "2026-12-12T21:00:00.000Z"
    )
    for headers in ({}, {"Authorization": "Bearer not-the-gate-token"}, {"Authorization": GATE_TOKEN}):
        refused = await client.get("/api/gate/session", headers=headers)
        assert refused.status_code == 401 and refused.json()["error"] == "unauthorized"


@pytest.mark.parametrize("gate", ["", "   ", "x" * 41, "North\ngate", 7])
async def test_a_bad_gate_name_is_a_400_and_admits_nobody(client: httpx.AsyncClient, gate: object) -> None:
    (ticket,) = await paid_tickets(client, 1)
    answer = await client.post(
        "/api/tickets/check-in", json={"code": ticket["code"], "gate": gate}, headers=GATE
    )
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_parameter"
    after = await client.get("/api/tickets/verify", params={"code": ticket["code"]})
    assert after.json()["checked_in"] is False


async def test_after_the_event_and_its_grace_check_in_is_refused(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    # Sold while the event is on, then the clock of the gate is past its end.
    settings = make_settings("sqlite", "memory", sandbox_delay=0.2, gate_tokens=(GATE_TOKEN,))
    async with run_server(settings) as running, local_client(running.base_url) as http:
        (ticket,) = await paid_tickets(http, 1)
    ended = settings.with_overrides(catalogue_file=ended_catalogue(tmp_path))
    async with run_server(ended) as running, local_client(running.base_url) as http:
        seen = (
            await http.get("/api/tickets/verify", params={"code": ticket["short_code"]}, headers=GATE)
        ).json()
        assert seen["event_over"] is True and seen["checked_in"] is False
        refused = await http.post("/api/tickets/check-in", json={"code": ticket["code"]}, headers=GATE)
        assert refused.status_code == 409 and refused.json()["error"] == "event_over"
        assert refused.json()["ticket"]["checked_in"] is False
        session = (await http.get("/api/gate/session", headers=GATE)).json()
        assert session["events"][0]["over"] is True
    # A longer grace (a festival's last bus) admits it again.
    longer = ended.with_overrides(gate_grace_after_end=10 * 365 * 86400.0)
    async with run_server(longer) as running, local_client(running.base_url) as http:
        admitted = await http.post("/api/tickets/check-in", json={"code": ticket["code"]}, headers=GATE)
        assert admitted.status_code == 200


async def test_guessing_codes_is_limited_per_address_and_per_token(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(
        "sqlite", "memory", gate_tokens=(GATE_TOKEN,), gate_limit_per_ip=5, gate_limit_per_token=3
    )
    async with run_server(settings) as running, local_client(running.base_url) as http:
        guesses = [f"AAAAA-AAAA{symbol}" for symbol in "ABCDEFGH"]
        checked = [
            await http.post("/api/tickets/check-in", json={"code": g}, headers=GATE) for g in guesses[:4]
        ]
        assert [a.status_code for a in checked] == [404, 404, 404, 429]
        assert checked[-1].json()["limit"] == "token" and int(checked[-1].headers["retry-after"]) >= 1
        verified = [await http.get("/api/tickets/verify", params={"code": g}) for g in guesses[:4]]
        # Three check-ins and two verifies used the address's five.
        assert [a.status_code for a in verified] == [404, 404, 429, 429]
        assert verified[-1].json()["limit"] == "ip"
        metrics = (await http.get("/metrics")).text
        assert 'payment_status_gate_limited_total{limit="token"} 1.0' in metrics
