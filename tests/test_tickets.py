"""Tickets: signed codes, their QR images, and the gate's verify and check-in."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
import sqlalchemy as sa

from server.lifecycle import COMPLETED, PROCESSING
from server.settings import Settings
from server.store import Database
from server.store.tables import outbox, tickets
from server.tickets.codes import TicketSigner, parse_code
from tests.fulfilment_helpers import SILENT_PHONE, decode_qr, place, run_cli, settled
from tests.local_http import local_client
from tests.server_harness import RunningServer, run_server

KEY = "k" * 40
GATE_TOKEN = "gate-staff-token-0123456789"
GATE = {"Authorization": f"Bearer {GATE_TOKEN}"}
PERSONAL = ("amina", "otieno", "example.com", "0712", "254712")


def flip(text: str, index: int) -> str:
    """`text` with one character changed, staying inside the code's alphabet."""
    swapped = "B" if text[index] == "A" else "A"
    return text[:index] + swapped + text[index + 1 :]


def test_a_signed_code_verifies_and_any_changed_character_does_not() -> None:
    signer = TicketSigner(KEY)
    code = signer.sign("AbCdEfGhIjKlMnOp", "demo-fest", "early-bird")
    parsed = parse_code(code)
    assert parsed is not None and len(code) <= 40  # small enough for a low-version QR
    assert signer.verify(parsed, "demo-fest", "early-bird")
    for index in range(len(code)):
        if code[index] == ".":
            continue
        changed = parse_code(flip(code, index))
        assert changed is None or not signer.verify(changed, "demo-fest", "early-bird"), index


def test_a_code_is_bound_to_its_event_ticket_type_and_key() -> None:
    code = TicketSigner(KEY).sign("AbCdEfGhIjKlMnOp", "demo-fest", "early-bird")
    parsed = parse_code(code)
    assert parsed is not None
    assert not TicketSigner(KEY).verify(parsed, "demo-fest", "regular")  # no upgrade
    assert not TicketSigner(KEY).verify(parsed, "other-fest", "early-bird")
    assert not TicketSigner("x" * 40).verify(parsed, "demo-fest", "early-bird")


@pytest.mark.parametrize("junk", ["", ".", "abc", "a" * 200, "AbCdEfGhIjKlMnOp.short", "a b.c", "x.y.z"])
def test_junk_is_not_even_parsed(junk: str) -> None:
    assert parse_code(junk) is None


@pytest.fixture
async def live(stack_settings: Settings) -> AsyncIterator[RunningServer]:
    tokens = ("another-gate-token-42", GATE_TOKEN)
    settings = stack_settings.with_overrides(sandbox_delay=0.2, gate_tokens=tokens)
    async with run_server(settings) as running:
        yield running


@pytest.fixture
async def client(live: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with local_client(live.base_url, timeout=30) as http:
        yield http


async def paid(client: httpx.AsyncClient, quantity: int = 2) -> dict[str, object]:
    order = await place(client, "amina@example.com", quantity=quantity)
    document = await settled(client, order["order_id"])
    assert document["payment_status"] == COMPLETED
    return document


def no_personal_data(response: httpx.Response) -> None:
    text = response.text.lower()
    assert not [word for word in PERSONAL if word in text], text


async def test_tickets_appear_in_the_status_document_only_once_completed(
    live: RunningServer, client: httpx.AsyncClient
) -> None:
    order = await place(client, "amina@example.com", phone=SILENT_PHONE, quantity=2)
    document = (await client.get(f"/api/orders/{order['order_id']}")).json()
    assert document["payment_status"] == PROCESSING and document["tickets"] == []
    rows = await live.services.database.fetch_all(
        sa.select(tickets.c.id, tickets.c.code).where(tickets.c.order_id == order["order_id"])
    )
    assert len(rows) == 2 and all(r["code"] is None for r in rows)
    unpaid = rows[0]["id"]
    # No QR, and no valid code, for a ticket nobody has paid for yet.
    response = await client.get(f"/api/tickets/{unpaid}/qr.png")
    assert response.status_code == 404 and response.json()["error"] == "ticket_not_found"
    forged = TicketSigner(live.services.settings.ticket_signing_key).sign(unpaid, "demo-fest", "early-bird")
    assert (await client.get("/api/tickets/verify", params={"code": forged})).status_code == 404

    sandbox = live.services.sandbox
    assert sandbox is not None
    push = sandbox.pushes[f"SANDBOX-{order['order_number']}"]
    answer = await client.post(live.services.settings.callback_url, json=sandbox.settle(push, "success"))
    assert answer.status_code == 200
    document = (await client.get(f"/api/orders/{order['order_id']}")).json()
    assert document["payment_status"] == COMPLETED
    assert sorted(t["ticket_id"] for t in document["tickets"]) == sorted(r["id"] for r in rows)
    for ticket in document["tickets"]:
        assert set(ticket) == {
            *("ticket_id", "ticket_type", "ticket_type_name", "code", "short_code", "qr_url"),
            *("share_url", "card_url"),  # the ticket's own link and card: no personal data
        }
        assert ticket["ticket_type"] == "early-bird" and ticket["ticket_type_name"] == "Early Bird"
        assert ticket["qr_url"] == f"/api/tickets/{ticket['ticket_id']}/qr.png"
        image = await client.get(ticket["qr_url"])
        assert image.status_code == 200 and image.headers["content-type"] == "image/png"
        assert decode_qr(image.content) == [ticket["code"]]
        svg = await client.get(ticket["qr_url"].replace(".png", ".svg"))
        assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
        assert svg.text.lstrip().startswith("<?xml") and "<svg" in svg.text


async def test_a_short_code_another_ticket_holds_is_never_given_twice(
    live: RunningServer, client: httpx.AsyncClient
) -> None:
    """The gate admits by short code: a ticket whose first short code another ticket holds
    gets the next one derived from its code, and the holder keeps its own."""
    first = await place(client, "amina@example.com", phone=SILENT_PHONE, quantity=1)
    holder = await place(client, "baraka@example.com", phone=SILENT_PHONE, quantity=1)
    database = live.services.database
    ticket_of = {
        r["order_id"]: r["id"]
        for r in await database.fetch_all(
            sa.select(tickets.c.id, tickets.c.order_id).where(
                tickets.c.order_id.in_([first["order_id"], holder["order_id"]])
            )
        )
    }
    signer = TicketSigner(live.services.settings.ticket_signing_key)
    code = signer.sign(ticket_of[first["order_id"]], "demo-fest", "early-bird")
    taken = signer.short_code(code, 0)
    await database.execute(
        tickets.update().where(tickets.c.id == ticket_of[holder["order_id"]]).values(short_code=taken)
    )

    sandbox = live.services.sandbox
    assert sandbox is not None
    push = sandbox.pushes[f"SANDBOX-{first['order_number']}"]
    assert (
        await client.post(live.services.settings.callback_url, json=sandbox.settle(push, "success"))
    ).status_code == 200
    short_of = {
        r["id"]: (r["code"], r["short_code"])
        for r in await database.fetch_all(sa.select(tickets.c.id, tickets.c.code, tickets.c.short_code))
    }
    assert short_of[ticket_of[first["order_id"]]] == (code, signer.short_code(code, 1))
    assert short_of[ticket_of[holder["order_id"]]] == (None, taken)
    # The e-mail carries the code the ticket got, not the one first tried.
    assert await mailed_codes(database, first["order_id"]) == [(code, signer.short_code(code, 1))]


async def mailed_codes(database: Database, order_id: str) -> list[tuple[str, str]]:
    """The (code, short code) of each ticket the order's tickets e-mail carries (the short
    code as stored: the e-mail groups it with dashes for reading aloud)."""
    payload = await database.fetch_val(
        sa.select(outbox.c.payload).where(outbox.c.key == f"order:{order_id}:tickets")
    )
    letter = json.loads(payload)
    return [(ticket["code"], ticket["short_code"].replace("-", "")) for ticket in letter["tickets"]]


async def test_two_tickets_of_one_order_first_given_one_short_code_end_with_two(
    live: RunningServer, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A paid order's codes are written together, each with its first short code; where two
    of them are the same (forced here: about once in 10^15 pairs), the payment is signed
    again one ticket at a time, and the second ticket takes its next short code."""
    signer = TicketSigner(live.services.settings.ticket_signing_key)
    same = signer.short_code("any code", 0)
    real = TicketSigner.short_code

    def first_short_codes_collide(self: TicketSigner, code: str, attempt: int = 0) -> str:
        return same if attempt == 0 else real(self, code, attempt)

    monkeypatch.setattr(TicketSigner, "short_code", first_short_codes_collide)
    document = await paid(client, quantity=2)
    database = live.services.database
    stored: dict[str, str] = {
        row["code"]: row["short_code"]
        for row in await database.fetch_all(
            sa.select(tickets.c.code, tickets.c.short_code).where(tickets.c.order_id == document["order_id"])
        )
    }
    (kept_first,) = [code for code, short in stored.items() if short == same]
    (other,) = set(stored) - {kept_first}
    assert stored[other] == real(signer, other, 1)
    # What the customer sees and is mailed is what the tickets hold.
    listed = document["tickets"]
    assert isinstance(listed, list)
    assert {ticket["code"]: ticket["short_code"].replace("-", "") for ticket in listed} == stored
    assert dict(await mailed_codes(database, str(document["order_id"]))) == stored


async def test_unknown_ticket_qr_is_a_json_404(client: httpx.AsyncClient) -> None:
    for suffix in ("png", "svg"):
        response = await client.get(f"/api/tickets/NoSuchTicket1234/qr.{suffix}")
        assert response.status_code == 404 and response.json()["error"] == "ticket_not_found"


async def test_genuine_verifies_tampered_is_rejected_and_check_in_happens_once(
    live: RunningServer, client: httpx.AsyncClient
) -> None:
    document = await paid(client)
    first, second = document["tickets"]  # type: ignore[misc]
    code = first["code"]

    genuine = await client.get("/api/tickets/verify", params={"code": code})
    assert genuine.status_code == 200
    assert genuine.json() == {
        "genuine": True,
        "ticket_id": first["ticket_id"],
        "event": {
            "slug": "demo-fest",
            "name": "Demo Fest 2026",
            "timezone": "Africa/Nairobi",
            "starts_at": "2026-12-12T16:00:00+03:00",
            "ends_at": "2026-12-12T23:00:00+03:00",
        },
        "ticket_type": {"slug": "early-bird", "name": "Early Bird"},
        "checked_in": False,
        "checked_in_at": None,
        "checked_in_gate": None,
        "order": {"admitted": 0, "tickets": 2},
        "event_over": False,
    }
    no_personal_data(genuine)

    ticket_id, signature = code.split(".")
    tampered = [
        flip(code, len(code) - 1),  # one character of the signature
        flip(code, 0),  # one character of the ticket id
        f"{ticket_id}.{second['code'].split('.')[1]}",  # another ticket's signature
        f"{ticket_id}.{signature}x",
        TicketSigner("z" * 40).sign(ticket_id, "demo-fest", "early-bird"),  # someone else's key
        TicketSigner(live.services.settings.ticket_signing_key).sign(ticket_id, "demo-fest", "regular"),
    ]
    for wrong in tampered:
        response = await client.get("/api/tickets/verify", params={"code": wrong})
        assert response.status_code == 404, wrong
        assert response.json()["error"] == "ticket_not_valid" and response.json()["genuine"] is False
        refused = await client.post("/api/tickets/check-in", json={"code": wrong}, headers=GATE)
        assert refused.status_code == 404

    # Five gates scan the same ticket at once: exactly one lets the holder in.
    scans = await asyncio.gather(
        *(client.post("/api/tickets/check-in", json={"code": code}, headers=GATE) for _ in range(5))
    )
    assert sorted(s.status_code for s in scans) == [200, 409, 409, 409, 409]
    admitted = next(s for s in scans if s.status_code == 200).json()
    assert admitted["checked_in"] is True and admitted["checked_in_at"]
    again = await client.post("/api/tickets/check-in", json={"code": code}, headers=GATE)
    assert again.status_code == 409
    body = again.json()
    assert body["error"] == "already_checked_in" and admitted["checked_in_at"] in body["message"]
    assert body["ticket"]["checked_in_at"] == admitted["checked_in_at"]
    no_personal_data(again)
    after = (await client.get("/api/tickets/verify", params={"code": code})).json()
    assert after["checked_in"] is True and after["checked_in_at"] == admitted["checked_in_at"]
    other = (await client.get("/api/tickets/verify", params={"code": second["code"]})).json()
    assert other["checked_in"] is False  # one ticket of the order, not the whole order


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"not json", "invalid_json"),
        (b"[1]", "invalid_json"),
        (b'{"code": 5}', "invalid_parameter"),
        (b"{}", "invalid_parameter"),
    ],
)
async def test_bad_check_in_bodies_get_a_400_and_change_nothing(
    live: RunningServer, client: httpx.AsyncClient, body: bytes, error: str
) -> None:
    await paid(client, quantity=1)
    json_body = {**GATE, "content-type": "application/json"}
    response = await client.post("/api/tickets/check-in", content=body, headers=json_body)
    assert response.status_code == 400 and response.json()["error"] == error
    # The same body as text/plain, the way a page on another site could post it: 415.
    plain = {**GATE, "content-type": "text/plain"}
    response = await client.post("/api/tickets/check-in", content=body, headers=plain)
    assert response.status_code == 415 and response.json()["error"] == "unsupported_media_type"
    checked = await live.services.database.fetch_all(
        sa.select(tickets).where(tickets.c.checked_in_ms.is_not(None))
    )
    assert checked == []


async def test_verify_without_a_code_is_a_400(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/tickets/verify")
    assert response.status_code == 400 and response.json()["error"] == "invalid_parameter"


async def test_the_verify_ticket_command_tells_the_gate(
    live: RunningServer, client: httpx.AsyncClient
) -> None:
    document = await paid(client, quantity=1)
    code = document["tickets"][0]["code"]  # type: ignore[index]
    status, output = await run_cli(live.services.settings, "verify-ticket", code)
    assert status == 0, output
    assert "GENUINE" in output and "Demo Fest 2026" in output and "Early Bird" in output
    assert "checked in:  no" in output
    checked_in = await client.post("/api/tickets/check-in", json={"code": code}, headers=GATE)
    assert checked_in.status_code == 200, checked_in.text
    status, output = await run_cli(live.services.settings, "verify-ticket", code)
    assert status == 0 and "checked in:  yes" in output
    status, output = await run_cli(live.services.settings, "verify-ticket", flip(code, len(code) - 1))
    assert status == 1 and "NOT VALID" in output


async def test_check_in_needs_a_gate_token_and_a_stranger_cannot_burn_a_ticket(
    live: RunningServer, client: httpx.AsyncClient
) -> None:
    document = await paid(client, quantity=1)
    code = document["tickets"][0]["code"]  # type: ignore[index]
    strangers: list[dict[str, str | bytes]] = [
        {},
        {"Authorization": GATE_TOKEN},  # no scheme
        {"Authorization": f"Basic {GATE_TOKEN}"},
        {"Authorization": f"Bearer {GATE_TOKEN[:-1]}"},
        {"Authorization": f"Bearer {GATE_TOKEN}x"},
        {"Authorization": "Bearer é".encode("latin-1")},  # not ASCII: refused, not a 500
    ]
    for headers in strangers:
        refused = await client.post("/api/tickets/check-in", json={"code": code}, headers=headers)
        assert refused.status_code == 401, (headers, refused.text)
        assert refused.json()["error"] == "unauthorized"
        assert refused.headers["www-authenticate"] == "Bearer"
    # Verify stays public, and nothing above checked the ticket in.
    still = await client.get("/api/tickets/verify", params={"code": code})
    assert still.status_code == 200 and still.json()["checked_in"] is False
    # Either configured token lets staff in; the scheme is case-insensitive (RFC 7235).
    staff = {"Authorization": "bearer another-gate-token-42"}
    admitted = await client.post("/api/tickets/check-in", json={"code": code}, headers=staff)
    assert admitted.status_code == 200 and admitted.json()["checked_in"] is True


async def test_without_a_gate_token_check_in_is_refused_and_the_start_says_so(
    stack_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    async with run_server(stack_settings.with_overrides(gate_tokens=())) as running:
        async with local_client(running.base_url) as http:
            anyone = {"Authorization": "Bearer anything-at-all-here"}
            response = await http.post("/api/tickets/check-in", json={"code": "x"}, headers=anyone)
    assert response.status_code == 503 and response.json()["error"] == "check_in_disabled"
    captured = capsys.readouterr()
    assert "GATE_TOKEN is not set" in captured.err + captured.out


async def test_a_ticket_image_is_drawn_once_and_revalidated_with_its_etag(
    live: RunningServer, client: httpx.AsyncClient
) -> None:
    document = await paid(client, quantity=1)
    ticket = document["tickets"][0]  # type: ignore[index]
    images = live.services.qr_images
    limits = httpx.Limits(max_connections=50)
    async with local_client(live.base_url, timeout=30, limits=limits) as flood:
        # A flood of one ticket's image, all at once on 50 connections: drawn once.
        answers = await asyncio.gather(*(flood.get(ticket["qr_url"]) for _ in range(50)))
    assert {a.status_code for a in answers} == {200}
    assert len({a.content for a in answers}) == 1 and decode_qr(answers[0].content) == [ticket["code"]]
    assert images.drawn == 1
    etag = answers[0].headers["etag"]
    assert {a.headers["etag"] for a in answers} == {etag}
    assert answers[0].headers["cache-control"] == "private, max-age=31536000, immutable"

    # The browser asks again with what it has: 304, no body, nothing drawn.
    for validator in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        again = await client.get(ticket["qr_url"], headers={"If-None-Match": validator})
        assert again.status_code == 304 and again.content == b"", validator
        assert again.headers["etag"] == etag
    changed = await client.get(ticket["qr_url"], headers={"If-None-Match": '"something-else"'})
    assert changed.status_code == 200 and changed.content == answers[0].content
    svg = await client.get(ticket["qr_url"].replace(".png", ".svg"))
    assert svg.status_code == 200 and svg.headers["etag"] != etag
    assert images.drawn == 2  # the PNG once, the SVG once
    # Answered past the Router once drawn (server/routes/qr_fast.py), still counted by route.
    metrics = (await client.get("/metrics")).text
    png = 'method="GET",route="/api/tickets/{ticket_id}/qr.png"'
    assert f'payment_status_http_requests_total{{{png},status="304"}} 4.0' in metrics
    assert f'payment_status_http_requests_total{{{png},status="200"}} 51.0' in metrics
