"""The checkout after issue 25: no second charge by accident, sales that close, the amount on
Pay, the event card, dark mode, and the 200% zoom fixes. Screenshots of each new state."""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, expect

from server.settings import DEFAULT_CATALOGUE, Settings
from tests import browser_fixtures
from tests.browser import Buyer, accessible, buy, fill_checkout, phone_page, screenshot, title_is
from tests.server_harness import RunningServer, run_server

pytestmark = pytest.mark.asyncio(loop_scope="session")

# Each test's pages close with it (tests/browser_fixtures.py).
close_pages = browser_fixtures.close_pages


@pytest_asyncio.fixture(loop_scope="session")
async def live(make_settings: Callable[..., Settings]) -> AsyncIterator[RunningServer]:
    async with run_server(make_settings("sqlite", "memory", sandbox_delay=0.5)) as running:
        yield running


@pytest.mark.waits
async def test_back_after_paying_offers_the_tickets_and_buying_again_asks_first(
    browser: Browser, live: RunningServer
) -> None:
    page, _ = await phone_page(browser)
    await fill_checkout(page, live.base_url, Buyer(quantity=2))
    await expect(page.locator("#pay")).to_have_text("Pay KES 600 with M-PESA")
    await expect(page.locator("#event-card-venue")).to_have_text("Uhuru Gardens, Nairobi")
    await expect(page.locator("#event-card-when")).to_contain_text("16:00 (Nairobi time)")
    await expect(page.locator("#ticket-price")).to_have_text("KES 300 per ticket")
    await page.click("#pay")
    await page.wait_for_url(re.compile(r"/payment/[A-Za-z0-9_-]+$"))
    order_id = page.url.rsplit("/", 1)[1]
    await title_is(page, "Payment received")

    await page.go_back()
    paid = page.get_by_role("link", name="You've paid: view your tickets")
    await expect(paid).to_be_visible()
    assert await paid.get_attribute("href") == f"/payment/{order_id}"
    await screenshot(page, "checkout-paid-back")
    await accessible(page, "checkout-paid-back")

    # Pay again anyway (the form came back filled): the service asks before a second charge.
    await expect(page.locator("#checkout")).to_be_visible()
    await fill_checkout(page, live.base_url, Buyer(quantity=2))
    await page.click("#pay")
    await expect(page.locator("#form-error")).to_have_text(
        "You already have tickets for this event. Buy more?"
    )
    await expect(page.get_by_role("link", name="View the tickets I have")).to_be_visible()
    await screenshot(page, "checkout-already-bought")
    await accessible(page, "checkout-already-bought")
    await page.get_by_role("button", name="Yes, buy more tickets").click()
    await page.wait_for_url(re.compile(r"/payment/[A-Za-z0-9_-]+$"))
    assert page.url.rsplit("/", 1)[1] != order_id
    await title_is(page, "Payment received")

    # In dark mode, with the same contrast.
    await page.emulate_media(color_scheme="dark")
    await screenshot(page, "paid-dark")
    await accessible(page, "paid-dark")
    await page.goto(f"{live.base_url}/")
    await expect(page.locator("#checkout")).to_be_visible()
    await screenshot(page, "checkout-dark")
    await accessible(page, "checkout-dark")


async def test_after_the_event_the_ticket_page_says_it_has_ended(
    browser: Browser, live: RunningServer
) -> None:
    page, _ = await phone_page(browser)
    order_id = await buy(page, live.base_url)
    await title_is(page, "Payment received")
    await expect(page.locator("#event-ended")).to_be_hidden()
    # A year on, by the phone's clock.
    await page.clock.install(time=time.time() + 366 * 86400)
    await page.goto(f"{live.base_url}/payment/{order_id}")
    await expect(page.locator("#event-ended")).to_have_text("This event has ended.")
    await screenshot(page, "ticket-event-ended")


async def test_the_checkout_of_an_ended_event_says_so_before_anyone_types(
    browser: Browser, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    demo = json.loads(DEFAULT_CATALOGUE.read_text(encoding="utf-8"))["events"][0]
    ended = {
        **demo,
        "rolls": "",
        "starts_at": "2020-06-01T16:00:00+03:00",
        "ends_at": "",
        "name": "Fest 2020",
    }
    catalogue = tmp_path / "ended.json"
    catalogue.write_text(json.dumps({"events": [ended]}), encoding="utf-8")
    async with run_server(make_settings("sqlite", "memory", catalogue_file=catalogue)) as live:
        page, _ = await phone_page(browser)
        await page.goto(f"{live.base_url}/")
        await expect(page.locator("#catalogue-message")).to_have_text(
            "Ticket sales for Fest 2020 have closed."
        )
        await expect(page.locator("#checkout")).to_be_hidden()
        await screenshot(page, "checkout-sales-closed")
        await accessible(page, "checkout-sales-closed")


async def test_at_200_percent_zoom_the_receipt_and_the_price_stay_readable(
    browser: Browser, live: RunningServer
) -> None:
    context = await browser.new_context(viewport={"width": 180, "height": 390}, device_scale_factor=4)
    page = await context.new_page()
    await buy(page, live.base_url)
    await title_is(page, "Payment received")
    # The receipt number on one or two lines, never one letter per line.
    lines = await page.eval_on_selector(
        "#receipt",
        "dd => Math.round(dd.getBoundingClientRect().height / parseFloat(getComputedStyle(dd).lineHeight))",
    )
    assert lines <= 2, f"the receipt number takes {lines} lines"
    await screenshot(page, "paid-200-percent")
    await page.goto(f"{live.base_url}/")
    await expect(page.locator("#ticket-price")).to_be_visible()
    await expect(page.locator("#ticket-price")).to_have_text("KES 300 per ticket")
    await screenshot(page, "checkout-200-percent")
