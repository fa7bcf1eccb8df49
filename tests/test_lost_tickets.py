""" "Lost your tickets?": one e-mail with every paid order's link, and an answer that tells nothing.

Against the real service in sandbox mode (real HTTP, the sandbox's callbacks), with e-mails
written by the outbox as `.eml` files, as a development machine has them.
"""

from __future__ import annotations

import asyncio
import email.policy
import re
from collections.abc import AsyncIterator, Callable
from email.message import EmailMessage
from email.parser import BytesParser

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Route, expect

from server.orders.lost_tickets import PER_CLIENT
from server.settings import Settings
from tests import browser_fixtures
from tests.browser import PHONE, accessible, phone_page, screenshot
from tests.fulfilment_helpers import all_sent, eventually, place, settled
from tests.local_http import local_client
from tests.server_harness import RunningServer, run_server
from tests.test_web_pages import as_mail_app_shows

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture
def sandbox_settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings("sqlite", "memory", sandbox_delay=0.2)


@pytest_asyncio.fixture(loop_scope="session")
async def live(sandbox_settings: Settings) -> AsyncIterator[RunningServer]:
    async with run_server(sandbox_settings) as running:
        yield running


def lost_letters(live: RunningServer, address: str) -> list[EmailMessage]:
    found = []
    for path in sorted((live.services.settings.data_dir / "outbox").glob("lost_*.eml")):
        message = BytesParser(policy=email.policy.default).parsebytes(path.read_bytes())
        if message["To"] == address:
            found.append(message)  # type: ignore[arg-type]
    return found


async def ask(http: httpx.AsyncClient, contact: str, language: str = "en") -> httpx.Response:
    return await http.post("/api/tickets/lost", json={"contact": contact, "language": language})


async def test_two_paid_orders_one_e_mail_with_both_links_and_an_unknown_address_the_same_answer(
    live: RunningServer,
) -> None:
    async with local_client(live.base_url) as http:
        first = await place(http, "njeri@example.com", quantity=1)
        second = await place(http, "njeri@example.com", quantity=2)
        for order in (first, second):
            assert (await settled(http, order["order_id"]))["payment_status"] == "completed"
        await eventually(lambda: all_sent(live.services.database))

        known = await ask(http, "  Njeri@Example.com ")
        unknown = await ask(http, "nobody-bought@example.com")
        assert known.status_code == unknown.status_code == 202
        assert known.json() == unknown.json(), "the answer tells nothing about the address"
        await eventually(lambda: all_sent(live.services.database))

        letters = lost_letters(live, "njeri@example.com")
        assert len(letters) == 1
        text = letters[0].get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
        markup = letters[0].get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
        base = live.services.settings.public_base_url
        for order in (first, second):
            assert f"{base}/payment/{order['order_id']}" in text
            assert f'href="{base}/payment/{order["order_id"]}"' in markup
            assert str(order["order_number"]) in text
        assert letters[0]["Subject"] == "Your tickets: the links to your ticket pages"
        assert lost_letters(live, "nobody-bought@example.com") == []

        # Asked again in the same window (by phone this time): no second e-mail.
        again = await ask(http, "0712345678")
        assert again.status_code == 202 and again.json() == known.json()
        await eventually(lambda: all_sent(live.services.database))
        assert len(lost_letters(live, "njeri@example.com")) == 1


async def test_by_phone_in_kiswahili(live: RunningServer) -> None:
    async with local_client(live.base_url) as http:
        order = await place(http, "otieno@example.com", quantity=1, phone="0712340077")
        assert (await settled(http, order["order_id"]))["payment_status"] == "completed"
        response = await ask(http, "+254 712 340 077", "sw")
        assert response.status_code == 202
        await eventually(lambda: all_sent(live.services.database))
    letters = lost_letters(live, "otieno@example.com")
    assert len(letters) == 1
    assert letters[0]["Subject"] == "Tiketi zako: viungo vya kurasa za tiketi zako"
    text = letters[0].get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert text.startswith("Habari ") and f"/payment/{order['order_id']}" in text


async def test_bad_input_is_a_422_and_too_many_asks_a_429(live: RunningServer) -> None:
    async with local_client(live.base_url) as http:
        for body in (
            {},
            {"contact": ""},
            {"contact": "not an address"},
            {"contact": "a@b.co", "language": "fr"},
        ):
            response = await http.post("/api/tickets/lost", json=body)
            assert response.status_code == 422 and response.json()["error"] == "validation_error", body
        assert (await http.post("/api/tickets/lost", json=[1])).status_code == 422
        answers = [(await ask(http, f"someone{n}@example.com")).status_code for n in range(PER_CLIENT + 1)]
        # Earlier tests of this module asked from the same address too.
        assert answers[-1] == 429 and set(answers) <= {202, 429}
        limited = await ask(http, "someone@example.com")
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0


# --- On the pages -------------------------------------------------------------------------

# Each test's pages close with it (tests/browser_fixtures.py).
close_pages = browser_fixtures.close_pages


async def test_lost_your_tickets_on_the_checkout_and_the_ticket_page(
    browser: Browser, live: RunningServer
) -> None:
    async with local_client(live.base_url) as http:
        orders = [await place(http, "achieng@example.com", quantity=n) for n in (1, 2)]
        for order in orders:
            assert (await settled(http, order["order_id"]))["payment_status"] == "completed"
    await eventually(lambda: all_sent(live.services.database))

    page, _ = await phone_page(browser)
    await page.goto(f"{live.base_url}/")
    await page.get_by_text("Lost your tickets?").click()
    await page.get_by_label("E-mail or phone number").fill("achieng@example.com")
    await page.get_by_role("button", name="E-mail me my tickets").click()
    status = page.locator("#lost-status")
    await expect(status).to_contain_text("If this address or number bought tickets")
    answered = await status.text_content()
    await accessible(page, "lost tickets asked")
    await screenshot(page, "lost-tickets")
    await eventually(lambda: all_sent(live.services.database))
    letters = lost_letters(live, "achieng@example.com")
    assert len(letters) == 1
    text = letters[0].get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert all(f"/payment/{order['order_id']}" in text for order in orders)
    mail = await page.context.new_page()
    await mail.set_content(as_mail_app_shows(letters[0]))
    await expect(mail.get_by_role("link", name=re.compile("Open the tickets of"))).to_have_count(2)
    await screenshot(mail, "email-lost-tickets")
    await mail.close()

    # An address nobody bought with: the same words, and no e-mail.
    await page.get_by_label("E-mail or phone number").fill("stranger@example.com")
    await page.get_by_role("button", name="E-mail me my tickets").click()
    await expect(status).to_have_text(str(answered))
    await eventually(lambda: all_sent(live.services.database))
    assert lost_letters(live, "stranger@example.com") == []

    # On the ticket page too, in Kiswahili.
    context = await browser.new_context(**PHONE, extra_http_headers={"Accept-Language": "sw"})  # type: ignore[arg-type]
    swahili = await context.new_page()
    # The QR is held back until "Lost your tickets?" has been measured: when it comes, nothing
    # below it may move (a finger about to tap would land elsewhere; so did Playwright's click).
    held: list[Route] = []
    arrived = asyncio.Event()

    async def hold(route: Route) -> None:
        held.append(route)
        arrived.set()

    await swahili.route("**/api/tickets/*/qr.*", hold)
    await swahili.goto(f"{live.base_url}/payment/{orders[0]['order_id']}")
    await expect(swahili.locator("#title")).to_have_text("Malipo yamepokelewa")
    await arrived.wait()
    summary = swahili.get_by_text("Umepoteza tiketi zako?")
    before = await summary.bounding_box()
    for route in held:
        await route.continue_()
    await swahili.unroute("**/api/tickets/*/qr.*")
    await expect(swahili.locator("#ticket-list img")).to_have_js_property("complete", True)
    await expect(swahili.locator("#ticket-list a.save")).to_be_visible()
    assert await summary.bounding_box() == before
    await summary.click()
    await swahili.get_by_label("Barua pepe au nambari ya simu").fill("si anwani")
    await swahili.get_by_role("button", name="Nitumie tiketi zangu kwa barua pepe").click()
    await expect(swahili.locator("#lost-status")).to_contain_text("Weka anwani ya barua pepe")
    await swahili.get_by_label("Barua pepe au nambari ya simu").fill("achieng@example.com")
    await swahili.get_by_role("button", name="Nitumie tiketi zangu kwa barua pepe").click()
    await expect(swahili.locator("#lost-status")).to_contain_text("Tayari.")
    await accessible(swahili, "lost tickets asked, Kiswahili")
    await screenshot(swahili, "sw-lost-tickets")
    await context.close()
