"""Every page in Kiswahili for a browser that asks for it, and the e-mails of an order placed in it.

`Accept-Language: sw` gives each page in Kiswahili from its first byte; the switch on the page
gives the other language and the device keeps it (localStorage), never the URL. An order
placed from the Kiswahili checkout has its e-mails in Kiswahili. Each state is checked by
axe-core at 360 px and saved as a screenshot (`make screenshots`).
"""

from __future__ import annotations

import email.policy
from collections.abc import AsyncIterator, Callable
from email.message import EmailMessage
from email.parser import BytesParser

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect

from server.settings import Settings
from tests import browser_fixtures
from tests.browser import PHONE, Buyer, accessible, buy, fill_checkout, screenshot, title_is
from tests.fulfilment_helpers import all_sent, eventually
from tests.server_harness import RunningServer, run_server
from tests.test_web_pages import as_mail_app_shows

pytestmark = pytest.mark.asyncio(loop_scope="session")

# Each test's pages close with it (tests/browser_fixtures.py).
close_pages = browser_fixtures.close_pages


@pytest.fixture
def sandbox_settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings("sqlite", "memory", sandbox_delay=0.5)


@pytest_asyncio.fixture(loop_scope="session")
async def live(sandbox_settings: Settings) -> AsyncIterator[RunningServer]:
    async with run_server(sandbox_settings) as running:
        yield running


async def swahili_page(browser: Browser, *, dark: bool = False) -> Page:
    context = await browser.new_context(
        **PHONE,  # type: ignore[arg-type]
        extra_http_headers={"Accept-Language": "sw"},
        color_scheme="dark" if dark else "light",
    )
    return await context.new_page()


def sent_to(live: RunningServer, address: str) -> dict[str, EmailMessage]:
    """The e-mails the outbox wrote for `address`, by kind."""
    found = {}
    for path in (live.services.settings.data_dir / "outbox").glob("*.eml"):
        message = BytesParser(policy=email.policy.default).parsebytes(path.read_bytes())
        if message["To"] == address:
            found[path.name.rsplit("_", 1)[1].removesuffix(".eml")] = message  # type: ignore[assignment]
    return found


@pytest.mark.waits
async def test_checkout_and_ticket_page_in_kiswahili_and_the_e_mails_too(
    browser: Browser, live: RunningServer
) -> None:
    page = await swahili_page(browser)
    buyer = Buyer(email="wanjiku@example.com", first_name="Wanjiku", quantity=2)
    await fill_checkout(page, live.base_url, buyer)
    assert await page.evaluate("document.documentElement.lang") == "sw"
    await expect(page.locator("h1")).to_have_text("Nunua tiketi")
    await expect(page.locator("#pay")).to_have_text("Lipa KES 600 na M-PESA")
    await expect(page.locator("#event-card-when")).to_contain_text("16:00 (saa za Nairobi)")
    await expect(page.locator("#phone-hint")).to_have_text("Ombi la M-PESA litatumwa kwa +254 712 345 678.")
    await accessible(page, "checkout in Kiswahili")
    await screenshot(page, "sw-checkout")

    order_id = await buy(page, live.base_url, buyer)
    await title_is(page, "Malipo yamepokelewa")
    await expect(page.locator("#message")).to_contain_text("Asante! KES 600 imelipwa.")
    await expect(page.locator("#ticket-list .kind").first).to_have_text("Tiketi 1 kati ya 2: Early Bird")
    await expect(page.locator("#ticket-list .short-code-label").first).to_have_text(
        "Msimbo wa kuandika mlangoni"
    )
    await expect(page.locator("#event-when")).to_contain_text("(saa za Nairobi)")
    await expect(page.get_by_role("link", name="Weka kwenye kalenda")).to_be_visible()
    assert await page.evaluate("document.title") == "Malipo yamepokelewa · M-PESA"
    await accessible(page, "paid in Kiswahili")
    await screenshot(page, "sw-paid")

    # The order remembers its language: every e-mail it causes is in Kiswahili.
    await eventually(lambda: all_sent(live.services.database))
    letters = sent_to(live, buyer.email)
    assert set(letters) == {"welcome", "tickets", "receipt"}
    assert letters["welcome"]["Subject"].startswith("Karibu, Wanjiku")
    assert letters["tickets"]["Subject"].startswith("Tiketi zako za Demo Fest")
    assert letters["receipt"]["Subject"].startswith("Risiti ya ORD-")
    for kind, message in letters.items():
        text = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
        markup = message.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
        assert text.startswith("Habari Wanjiku,"), kind
        assert '<html lang="sw">' in markup, kind
        assert "Hello" not in text and "Your tickets" not in markup, kind
    tickets_text = letters["tickets"].get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "Tiketi 1 kati ya 2: Early Bird" in tickets_text
    assert "Jumamosi, 12 Desemba" in tickets_text and "saa 16:00 (saa za Nairobi)" in tickets_text
    assert f"/payment/{order_id}" in tickets_text
    receipt_text = letters["receipt"].get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "Kiasi ulicholipa:" in receipt_text and "KES 600" in receipt_text
    # A blank page of its own: the ticket page's CSP would refuse the e-mail's inline styles.
    mail = await page.context.new_page()
    for kind in ("tickets", "receipt"):
        await mail.set_content(as_mail_app_shows(letters[kind]))
        await screenshot(mail, f"sw-email-{kind}")


async def test_the_switch_keeps_the_language_on_the_device_not_in_the_url(
    browser: Browser, live: RunningServer
) -> None:
    context = await browser.new_context(**PHONE)  # type: ignore[arg-type]
    page = await context.new_page()
    await page.goto(f"{live.base_url}/")
    await expect(page.locator("h1")).to_have_text("Buy tickets")
    await page.fill("#email", "amina@example.com")
    switch = page.get_by_role("button", name="Kiswahili")
    assert await switch.get_attribute("lang") == "sw"
    await switch.click()
    await expect(page.locator("h1")).to_have_text("Nunua tiketi")
    await expect(page.locator("#checkout")).to_be_visible()
    assert page.url == f"{live.base_url}/", "the language never rides in the URL"
    # What was typed came back, and the form's words are Kiswahili.
    await expect(page.locator("#email")).to_have_value("amina@example.com")
    await expect(page.locator("label[for=phone]")).to_have_text("Nambari ya simu ya M-PESA")
    assert await page.evaluate("document.documentElement.lang") == "sw"
    # Another page on the same device: Kiswahili too, though the browser asks for English.
    await page.goto(f"{live.base_url}/gate")
    await expect(page.locator("h1")).to_have_text("Ukaguzi wa tiketi")
    await page.get_by_role("button", name="English").click()
    await expect(page.locator("h1")).to_have_text("Ticket check-in")
    await context.close()


async def test_field_errors_and_an_unknown_order_in_kiswahili(browser: Browser, live: RunningServer) -> None:
    page = await swahili_page(browser)
    await fill_checkout(page, live.base_url, Buyer(email="si-barua", first_name="", phone="12345"))
    await page.click("#pay")
    await expect(page.locator("#form-error")).to_have_text(
        "Tafadhali sahihisha sehemu 3: Barua pepe, Jina la kwanza, Nambari ya simu."
    )
    await expect(page.locator("#email-error")).to_have_text("Hii haionekani kuwa anwani ya barua pepe.")
    await expect(page.locator("#phone-error")).to_contain_text("tarakimu 9")
    await accessible(page, "field errors in Kiswahili")
    await screenshot(page, "sw-field-errors")

    await page.goto(f"{live.base_url}/payment/{'x' * 24}")
    await title_is(page, "Hatuwezi kupata malipo haya")
    await expect(page.get_by_role("link", name="Nenda kununua tiketi")).to_be_visible()
    await accessible(page, "unknown order in Kiswahili")


async def test_the_gate_page_in_kiswahili_dark(browser: Browser, live: RunningServer) -> None:
    page = await swahili_page(browser, dark=True)
    await page.goto(f"{live.base_url}/gate")
    await expect(page.locator("h1")).to_have_text("Ukaguzi wa tiketi")
    await expect(page.locator("label[for=door]")).to_have_text("Jina la mlango huu")
    await page.click("#start")
    await expect(page.locator("#door-error")).to_have_text("Lipe mlango huu jina, kwa mfano Kaskazini.")
    await accessible(page, "gate in Kiswahili, dark")
    await screenshot(page, "sw-gate-dark")
