"""The three e-mails, through the real service and a real SMTP server on loopback.

Orders go through `POST /api/orders`, the sandbox customer pays over real HTTP, and the
outbox worker started with the app hands the e-mails to aiosmtpd: what the user meets.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import AsyncIterator

import httpx
import pytest
import sqlalchemy as sa

from server.lifecycle import CANCELLED, COMPLETED
from server.mail.messages import Composer, message_id
from server.settings import Settings
from server.store.tables import customers, orders, payhero_callbacks
from tests.fulfilment_helpers import (
    SILENT_PHONE,
    all_sent,
    checkout_body,
    decode_qr,
    eventually,
    outbox_rows,
    parts,
    place,
    settled,
)
from tests.local_http import local_client
from tests.mail_server import MailCatcher
from tests.server_harness import RunningServer, run_server, until

EMAIL = "amina@example.com"


@pytest.fixture
async def mail() -> AsyncIterator[MailCatcher]:
    catcher = MailCatcher()
    await catcher.start()
    yield catcher
    if catcher.hold is not None:
        catcher.hold.set()
    await catcher.stop()


def shop_settings(settings: Settings, smtp_url: str) -> Settings:
    # Small sandbox delay and quick retries: the tests wait for events, and there are few.
    return settings.with_overrides(
        sandbox_delay=0.2, smtp_url=smtp_url, outbox_retry_base=0.05, outbox_retry_max=0.4
    )


@pytest.fixture
async def shop(stack_settings: Settings, mail: MailCatcher) -> AsyncIterator[RunningServer]:
    async with run_server(shop_settings(stack_settings, mail.url)) as running:
        yield running


@pytest.fixture
async def client(shop: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with local_client(shop.base_url, timeout=30) as http:
        yield http


async def exactly(shop: RunningServer, mail: MailCatcher, count: int) -> None:
    """`count` e-mails arrived, the outbox is empty, and one more pass sends nothing."""
    await mail.wait_for(count)
    await eventually(lambda: all_sent(shop.services.database))
    report = await shop.services.outbox.deliver_due(include_waiting=True)
    assert report.sent == 0
    assert len(mail.messages) == count


def kind_of(subject: str) -> str:
    for prefix, kind in [("Welcome", "welcome"), ("Your tickets", "tickets"), ("Receipt", "receipt")]:
        if subject.startswith(prefix):
            return kind
    raise AssertionError(f"unexpected subject {subject!r}")


async def test_a_new_customer_gets_welcome_tickets_and_receipt(
    shop: RunningServer, client: httpx.AsyncClient, mail: MailCatcher
) -> None:
    order = await place(client, EMAIL, quantity=2)
    document = await settled(client, order["order_id"])
    assert document["payment_status"] == COMPLETED
    await exactly(shop, mail, 3)

    by_kind = {kind_of(str(m["Subject"])): m for m in mail.messages}
    assert set(by_kind) == {"welcome", "tickets", "receipt"}
    number = document["order_number"]
    for kind, message in by_kind.items():
        assert message["To"] == EMAIL and mail.recipients[mail.messages.index(message)] == [EMAIL]
        assert message.get_content_type() == "multipart/alternative"
        body = parts(message)
        for part in (body["text"], body["html"]):
            assert number in part and "Demo Fest 2026" in part
        key = f"order:{order['order_id']}:{kind}" if kind != "welcome" else None
        if key is not None:
            # Stable, derived from the outbox key: a resend after a crash is recognisable.
            assert message["Message-ID"] == message_id(key, "localhost")
    assert len({m["Message-ID"] for m in mail.messages}) == 3

    receipt = parts(by_kind["receipt"])
    assert document["receipt_number"] in receipt["text"] and document["receipt_number"] in receipt["html"]
    assert "KES 600" in receipt["text"] and "KES 600" in receipt["html"]

    tickets = parts(by_kind["tickets"])
    assert len(document["tickets"]) == 2 and len(tickets["images"]) == 2
    for ticket in document["tickets"]:
        cid = f"ticket-{ticket['ticket_id']}@localhost"
        assert f'src="cid:{cid}"' in tickets["html"]
        assert ticket["code"] in tickets["text"]
        # The inline PNG is the QR of this very ticket's code: a scanner reads the code.
        assert decode_qr(tickets["images"][cid]) == [ticket["code"]]


def breaks_mid_sentence(text: str) -> list[str]:
    """Lines of `text` that a hard line break cut inside a sentence."""
    lines = text.splitlines()
    return [
        f"{before!r} / {after!r}"
        for before, after in itertools.pairwise(lines)
        if before.strip() and after[:1].islower() and before.rstrip()[-1:].isalpha()
    ]


async def test_the_tickets_e_mail_links_back_and_tells_times_at_the_venue(
    shop: RunningServer, client: httpx.AsyncClient, mail: MailCatcher
) -> None:
    order = await place(client, EMAIL, quantity=1)
    document = await settled(client, order["order_id"])
    await exactly(shop, mail, 3)
    base = shop.services.settings.public_base_url
    by_kind = {kind_of(str(m["Subject"])): parts(m) for m in mail.messages}
    tickets, receipt = by_kind["tickets"], by_kind["receipt"]
    order_url = f"{base}/payment/{order['order_id']}"
    for part in (tickets["text"], tickets["html"]):
        # The order's page stays the customer's ticket page: the e-mail leads back to it.
        assert order_url in part
        assert f"{base}/api/orders/{order['order_id']}/calendar.ics" in part
        assert f"{base}{document['tickets'][0]['qr_url']}" in part
        assert "Sat 12 Dec 2026, 16:00 (Nairobi time)" in part
        assert "Early Bird" in part
    assert order_url in receipt["text"] and order_url in receipt["html"]
    # Paid "now", said in Nairobi time (UTC+3), never in UTC.
    paid = re.search(r"Paid at:\s+(.+)", receipt["text"])
    assert (
        paid is not None
        and paid.group(1).rstrip().endswith("(Nairobi time)")
        and "UTC" not in receipt["text"]
    )
    # Plain text wraps only between words: a paragraph is one line, the mail app wraps it.
    for kind, body in by_kind.items():
        assert breaks_mid_sentence(body["text"]) == [], kind


def test_an_outbox_row_from_before_the_timezone_was_kept_still_composes() -> None:
    payload = {
        "order_id": "o" * 24,
        "order_number": "ORD-OLD001",
        "first_name": "Amina",
        "event_name": "Demo Fest 2026",
        "event_starts_at": "2026-12-12T16:00:00+03:00",
        "venue": "Uhuru Gardens, Nairobi",
        "ticket_type_name": "Early Bird",
        "quantity": 1,
        "amount": 300,
        "currency": "KES",
        "receipt_number": "SAE3YULR0Y",
        "paid_at": "2026-11-22T02:44:35.638Z",
    }
    letter = Composer("Tickets <tickets@localhost>", "https://tickets.example").letter("receipt", payload)
    assert "Paid at:        Sun 22 Nov 2026, 05:44 (Nairobi time)" in letter.text
    assert "https://tickets.example/payment/" + "o" * 24 in letter.text


async def test_a_returning_customer_gets_tickets_and_receipt_only(
    shop: RunningServer, client: httpx.AsyncClient, mail: MailCatcher
) -> None:
    first = await place(client, EMAIL, quantity=1)
    await settled(client, first["order_id"])
    await exactly(shop, mail, 3)
    second = await place(client, EMAIL.upper().replace("EXAMPLE.COM", "example.com"), quantity=1)
    document = await settled(client, second["order_id"])
    assert document["payment_status"] == COMPLETED
    await exactly(shop, mail, 5)
    latest = [kind_of(str(m["Subject"])) for m in mail.messages[3:]]
    assert sorted(latest) == ["receipt", "tickets"]
    assert all(second["order_number"] in str(m["Subject"]) for m in mail.messages[3:])


async def test_a_checkout_with_someone_elses_address_never_rewrites_their_name_or_phone(
    shop: RunningServer, client: httpx.AsyncClient, mail: MailCatcher
) -> None:
    """Each order keeps, and greets with, the name it was placed with (issue 11, item 7)."""
    first = await place(client, EMAIL, quantity=1)
    stranger = {**checkout_body(EMAIL, quantity=1), "first_name": "Mallory", "phone": "0799000111"}
    response = await client.post("/api/orders", json=stranger)
    assert response.status_code == 201
    second = response.json()
    customer = await shop.services.database.fetch_one(sa.select(customers).where(customers.c.email == EMAIL))
    assert customer is not None
    assert (customer["first_name"], customer["phone"]) == ("Amina", "254712345678")
    for order in (first, second):
        await settled(client, order["order_id"])
    await exactly(shop, mail, 5)
    greeting = {
        str(m["Subject"]).split()[2].rstrip(":"): parts(m)["text"].splitlines()[0]
        for m in mail.messages
        if kind_of(str(m["Subject"])) == "receipt"
    }
    assert greeting == {first["order_number"]: "Hello Amina,", second["order_number"]: "Hello Mallory,"}
    stored = await shop.services.database.fetch_one(orders.select().where(orders.c.id == second["order_id"]))
    assert stored is not None and stored["phone"] == "254799000111"


async def test_a_cancelled_order_sends_nothing(
    shop: RunningServer, client: httpx.AsyncClient, mail: MailCatcher
) -> None:
    order = await place(client, EMAIL, phone="0712341032")
    document = await settled(client, order["order_id"])
    assert document["payment_status"] == CANCELLED and document["tickets"] == []
    # Outbox rows commit with the status change or not at all: none now means none ever.
    assert await outbox_rows(shop.services.database) == []
    assert (await shop.services.outbox.deliver_due(include_waiting=True)).sent == 0
    assert mail.messages == []


async def test_five_concurrent_duplicate_callbacks_send_one_set(
    shop: RunningServer, client: httpx.AsyncClient, mail: MailCatcher
) -> None:
    order = await place(client, EMAIL, phone=SILENT_PHONE, quantity=2)
    sandbox = shop.services.sandbox
    assert sandbox is not None
    push = sandbox.pushes[f"SANDBOX-{order['order_number']}"]
    body = sandbox.settle(push, "success")
    url = shop.services.settings.callback_url
    answers = await asyncio.gather(*(client.post(url, json=body) for _ in range(5)))
    assert [a.status_code for a in answers] == [200] * 5
    assert {a.json()["payment_status"] for a in answers} == {COMPLETED}
    outcomes = await shop.services.database.fetch_all(sa.select(payhero_callbacks.c.outcome))
    assert sorted(r["outcome"] for r in outcomes) == ["applied"] + ["duplicate"] * 4
    await exactly(shop, mail, 3)
    assert sorted(r["kind"] for r in await outbox_rows(shop.services.database)) == [
        "receipt",
        "tickets",
        "welcome",
    ]
    document = (await client.get(f"/api/orders/{order['order_id']}")).json()
    text = parts(next(m for m in mail.messages if "tickets" in str(m["Subject"])))["text"]
    assert re.findall(r"Full code: (\S+)", text) == [t["code"] for t in document["tickets"]]
    # The code an attendant can type, printed under each QR as the status document has it.
    assert re.findall(r"type at the gate: (\S+)", text) == [t["short_code"] for t in document["tickets"]]


async def test_the_callback_answers_without_waiting_for_the_mail_server(
    shop: RunningServer, client: httpx.AsyncClient, mail: MailCatcher
) -> None:
    release = mail.hold_messages()  # the mail server accepts nothing for now
    order = await place(client, EMAIL, quantity=1)
    document = await settled(client, order["order_id"])
    sandbox = shop.services.sandbox
    assert sandbox is not None
    push = sandbox.pushes[f"SANDBOX-{order['order_number']}"]
    assert document["payment_status"] == COMPLETED

    async def sending() -> bool:
        return any(r["locked_until_ms"] for r in await outbox_rows(shop.services.database))

    await eventually(sending)  # the worker is inside an SMTP transaction that cannot end yet
    # ... and the webhook has answered all the same (the sandbox counts answered callbacks).
    await until(lambda: push.callbacks_sent == 1)
    assert mail.messages == []
    release.set()
    await exactly(shop, mail, 3)


async def test_mail_server_down_loses_nothing_and_sends_each_once_when_back(
    stack_settings: Settings,
) -> None:
    mail = MailCatcher()  # its port is reserved, but nothing listens there yet
    async with (
        run_server(shop_settings(stack_settings, mail.url)) as shop,
        local_client(shop.base_url, timeout=30) as client,
    ):
        order = await place(client, EMAIL, quantity=1)
        assert (await settled(client, order["order_id"]))["payment_status"] == COMPLETED

        async def retried_twice() -> bool:
            rows = await outbox_rows(shop.services.database)
            return len(rows) == 3 and all(r["attempts"] >= 2 and r["sent_ms"] is None for r in rows)

        await eventually(retried_twice)
        rows = await outbox_rows(shop.services.database)
        assert all("Connect" in (r["last_error"] or "") or "refused" in (r["last_error"] or "") for r in rows)
        await mail.start()
        try:
            await exactly(shop, mail, 3)
        finally:
            await mail.stop()
    assert len({m["Message-ID"] for m in mail.messages}) == 3


async def test_e_mails_share_one_connection_and_a_server_restart_between_them_loses_nothing(
    stack_settings: Settings,
) -> None:
    # One connection for many e-mails (a TLS handshake each, against a real provider, was
    # the loop's largest cost per e-mail); one the server closed is replaced at once.
    mail = MailCatcher()
    await mail.start()
    try:
        async with (
            run_server(shop_settings(stack_settings, mail.url)) as shop,
            local_client(shop.base_url, timeout=30) as client,
        ):
            first = await place(client, EMAIL, quantity=1)
            assert (await settled(client, first["order_id"]))["payment_status"] == COMPLETED
            await exactly(shop, mail, 3)
            assert len({arrival.peer for arrival in mail.arrivals}) == 1
            # The server goes away and comes back: the connection kept is dead now.
            await mail.stop()
            await mail.start()
            second = await place(client, "baraka@example.com", quantity=1)
            assert (await settled(client, second["order_id"]))["payment_status"] == COMPLETED
            await exactly(shop, mail, 6)
            rows = await outbox_rows(shop.services.database)
            # Sent at the first attempt: the dead connection cost a new one, not a retry.
            assert all(r["attempts"] == 1 for r in rows), rows
            assert len({arrival.peer for arrival in mail.arrivals[3:]}) == 1
            assert mail.arrivals[3].peer != mail.arrivals[0].peer
    finally:
        await mail.stop()
