"""Who is in, on the gate page: two doors (two browser contexts), a check-in at one moves the
count on the other; the ticket types on a tap (screenshot, axe at 360 and 1280 px)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.async_api import Browser, Page, expect

from server.settings import Settings
from tests import browser_fixtures
from tests.browser import accessible, phone_page, screenshot
from tests.gate_helpers import GATE_TOKEN, paid_tickets
from tests.local_http import local_client
from tests.server_harness import run_server

pytestmark = pytest.mark.asyncio(loop_scope="session")

# The worker's one browser (tests/browser_fixtures.py); each test's pages close with it.
close_pages = browser_fixtures.close_pages


async def door(browser: Browser, base_url: str, name: str) -> Page:
    page, _ = await phone_page(browser)
    await page.goto(f"{base_url}/gate")
    await page.get_by_label("Name of this gate").fill(name)
    await page.get_by_label("Gate token").fill(GATE_TOKEN)
    await page.get_by_role("button", name="Start checking tickets").click()
    await expect(page.get_by_label("Ticket code")).to_be_focused()
    return page


async def test_a_check_in_at_one_door_moves_the_count_at_the_other(
    browser: Browser, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings("sqlite", "memory", sandbox_delay=0.2, gate_tokens=(GATE_TOKEN,))
    async with run_server(settings) as live, local_client(live.base_url) as http:
        first, _ = await paid_tickets(http, 2)
        north = await door(browser, live.base_url, "North")
        south = await door(browser, live.base_url, "South")
        total = south.get_by_role("button", name="Demo Fest 2026")
        await expect(total).to_contain_text("0 of 2 in")

        await north.get_by_label("Ticket code").fill(first["short_code"])
        await north.locator("#check").click()
        await expect(north.locator("#verdict-title")).to_have_text("ADMIT")
        await expect(total).to_contain_text("1 of 2 in")

        await expect(total).to_have_attribute("aria-expanded", "false")
        await total.click()
        await expect(total).to_have_attribute("aria-expanded", "true")
        await expect(south.get_by_role("list", name="By ticket type: Demo Fest 2026")).to_have_text(
            "Early Bird: 1 of 2 in"
        )
        await screenshot(south, "gate-count")
        await accessible(south, "gate-count")
