"""Names and addresses past ASCII, through a real SMTP server: what the customer reads.

The composing process hands the service each e-mail already flattened to bytes that any
SMTP server takes (server/mail/outgoing.py): a Kiswahili name must arrive intact through
a server that offers 8BITMIME and through a strict 7-bit one, which refuses any byte past
ASCII. An address past ASCII needs SMTPUTF8: a server without it fails the attempt, and
the e-mail waits in the outbox until a server that has it takes it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
import sqlalchemy as sa

from server.fulfilment import build_outbox_worker
from server.lifecycle import COMPLETED
from server.mail.transport import SmtpSender
from server.services import Services
from server.settings import Settings
from server.store.tables import outbox
from tests.fulfilment_helpers import (
    all_sent,
    checkout_body,
    decode_qr,
    eventually,
    outbox_rows,
    paid_order,
    parts,
    settled,
)
from tests.local_http import local_client
from tests.mail_server import MailCatcher
from tests.server_harness import run_server

NAME = "Wanjirũ"
EMAIL = "wanjiru@example.com"


@pytest.fixture(params=[True, False], ids=["8bitmime", "7bit-only"])
async def mail(request: pytest.FixtureRequest) -> AsyncIterator[MailCatcher]:
    catcher = MailCatcher(eight_bit=request.param, smtputf8=False)
    await catcher.start()
    yield catcher
    await catcher.stop()


async def test_a_kiswahili_name_arrives_intact_with_or_without_8bitmime(
    make_settings: Callable[..., Settings], mail: MailCatcher
) -> None:
    settings = make_settings("sqlite", "memory").with_overrides(
        sandbox_delay=0.2, smtp_url=mail.url, outbox_retry_base=0.05, outbox_retry_max=0.4
    )
    async with (
        run_server(settings) as shop,
        local_client(shop.base_url, timeout=30) as client,
    ):
        body = {**checkout_body(EMAIL, quantity=1), "first_name": NAME, "language": "sw"}
        response = await client.post("/api/orders", json=body)
        assert response.status_code == 201, response.text
        document = await settled(client, response.json()["order_id"])
        assert document["payment_status"] == COMPLETED
        await mail.wait_for(3)
        await eventually(lambda: all_sent(shop.services.database))
        # The mail server took all three the first time: nothing was refused and retried.
        assert [row["attempts"] for row in await outbox_rows(shop.services.database)] == [1, 1, 1]
    subjects = sorted(str(m["Subject"]) for m in mail.messages)
    assert f"Karibu, {NAME}: oda yako ya kwanza {document['order_number']} imelipwa" in subjects
    for arrival in mail.arrivals:
        # Seven-bit bytes: what a server without 8BITMIME may be sent.
        assert arrival.raw.isascii()
        body_parts = parts(arrival.message)
        # Greeted by name in both parts ("Habari Wanjirũ," or the welcome's "Karibu, Wanjirũ").
        assert f"Habari {NAME}," in body_parts["text"]
        assert f"Habari {NAME}," in body_parts["html"] or f"Karibu, {NAME}</h1>" in body_parts["html"]
    tickets = next(m for m in mail.messages if str(m["Subject"]).startswith("Tiketi"))
    [qr] = parts(tickets)["images"].values()
    assert decode_qr(qr) == [document["tickets"][0]["code"]]


async def test_an_address_past_ascii_waits_for_a_server_with_smtputf8(services: Services) -> None:
    await paid_order(services, EMAIL)
    # Checkout takes ASCII addresses only; a row holding another (written by an older or a
    # later release) must be kept until a server can take it, never lost.
    address = "wanjirũ@example.com"
    await services.database.execute(outbox.update().values(recipient=address))
    without = MailCatcher(smtputf8=False)
    with_it = MailCatcher(smtputf8=True)
    await without.start()
    await with_it.start()
    worker = build_outbox_worker(
        services.settings.with_overrides(smtp_url=without.url, outbox_retry_base=30.0), services.database
    )
    try:
        report = await worker.deliver_due()
        assert (report.sent, report.failed) == (0, 3)
        rows = await outbox_rows(services.database)
        assert all(r["sent_ms"] is None and "SMTPUTF8" in (r["last_error"] or "") for r in rows)
        assert without.messages == []
        # The operator moves to a provider with SMTPUTF8: each e-mail goes out, once.
        worker.sender = SmtpSender(with_it.url, services.settings.smtp_timeout)
        assert (await worker.deliver_due(include_waiting=True)).sent == 3
    finally:
        worker.close()
        await without.stop()
        await with_it.stop()
    assert len(with_it.arrivals) == 3
    for arrival in with_it.arrivals:
        assert arrival.rcpt_tos == [address] and "SMTPUTF8" in arrival.mail_options
        assert arrival.message["To"] == address
    unsent = sa.select(sa.func.count()).select_from(outbox).where(outbox.c.sent_ms.is_(None))
    assert await services.database.fetch_val(unsent) == 0
