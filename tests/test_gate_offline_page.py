"""The gate with no network, in Chromium: two doors (two browser contexts) go offline, keep
admitting against the ticket list each keeps, one ticket is let in at both; back online,
each queue is sent and the double admission is reported on both devices and on /metrics.
The page itself comes back offline from the service worker's cache."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from server.settings import Settings
from server.tickets.short_codes import check_symbol
from tests import browser_fixtures
from tests.browser import PHONE, accessible, screenshot
from tests.gate_helpers import GATE, GATE_TOKEN, paid_tickets
from tests.local_http import local_client
from tests.server_harness import run_server

pytestmark = pytest.mark.asyncio(loop_scope="session")

# The worker's one browser (tests/browser_fixtures.py); each test's pages close with it.
close_pages = browser_fixtures.close_pages


async def door(browser: Browser, base_url: str, name: str) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(**PHONE)  # type: ignore[arg-type]
    page = await context.new_page()
    # The page's timers are the test's: a verdict stays until the test moves the clock.
    await page.clock.install()
    await page.goto(f"{base_url}/gate")
    await page.get_by_label("Name of this gate").fill(name)
    await page.get_by_label("Gate token").fill(GATE_TOKEN)
    await page.get_by_role("button", name="Start checking tickets").click()
    # Generous waits where the machine's load, not the page, sets the pace.
    await expect(page.locator("#list-fresh")).to_contain_text("3 tickets, updated", timeout=20_000)
    # The page and its scripts are in the service worker's cache.
    await page.wait_for_function("caches.match('/gate').then(Boolean)", timeout=20_000)
    return context, page


async def scan(page: Page, code: str, verdict: str) -> None:
    await page.get_by_label("Ticket code").fill(code)
    await page.locator("#check").click()
    # Shown first: the attribute keeps the last verdict while hidden, so two admits in a row
    # would otherwise match before the second was judged.
    await expect(page.locator("#verdict")).to_be_visible()
    await expect(page.locator("#verdict")).to_have_attribute("data-verdict", verdict)


async def next_ticket(page: Page) -> None:
    """Back to scanning: by the button, or by itself (it resumes after 2.5 s, which a slow
    machine's screenshot and axe run can outlast)."""
    button = page.get_by_role("button", name="Next ticket")
    if await button.is_visible():
        with contextlib.suppress(PlaywrightTimeoutError):
            await button.click(timeout=2_000)
    await expect(page.locator("#verdict")).to_be_hidden()


@pytest.mark.waits
async def test_two_offline_doors_admit_sync_and_both_report_a_ticket_let_in_twice(
    browser: Browser, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings("sqlite", "memory", sandbox_delay=0.2, gate_tokens=(GATE_TOKEN,))
    async with run_server(settings) as live, local_client(live.base_url) as http:
        first, second, third = await paid_tickets(http, 3)
        north_context, north = await door(browser, live.base_url, "North")
        south_context, south = await door(browser, live.base_url, "South")
        await north_context.set_offline(True)
        await south_context.set_offline(True)

        # North lets the first ticket in, by its short code typed loosely, then the second by QR.
        await scan(north, first["short_code"].lower().replace("-", " "), "admit")
        await expect(north.locator("#verdict-more")).to_contain_text("No network")
        await screenshot(north, "gate-offline-admit")
        await accessible(north, "gate-offline-admit")
        await next_ticket(north)
        await scan(north, second["code"], "admit")
        await next_ticket(north)
        # The same ticket again at the same door: its own list knows.
        await scan(north, second["short_code"], "already-in")
        await expect(north.locator("#verdict-detail")).to_contain_text("at North")
        await next_ticket(north)
        await expect(north.locator("#list-fresh")).to_contain_text("2 check-ins wait to be sent")

        # South, offline too, cannot know: it lets the first ticket in as well.
        await scan(south, first["code"], "admit")
        await next_ticket(south)
        data = ("Z" if third["short_code"][0] != "Z" else "Y") + third["short_code"].replace("-", "")[1:10]
        await scan(south, data + check_symbol(data), "not-valid")
        await next_ticket(south)
        # Nothing reached the service yet.
        seen = await http.get("/api/tickets/verify", params={"code": first["code"]}, headers=GATE)
        assert seen.json()["checked_in"] is False

        # The page itself comes back with no network (service worker), with its list and queue.
        await north.reload()
        await expect(north.get_by_label("Ticket code")).to_be_visible(timeout=20_000)
        await expect(north.locator("#list-fresh")).to_contain_text("2 check-ins wait to be sent")

        # Back online: North's queue goes first, with its scan times and door.
        await north_context.set_offline(False)
        await expect(north.locator("#list-fresh")).not_to_contain_text("wait to be sent", timeout=30_000)
        checked = (await http.get("/api/tickets/verify", params={"code": first["code"]}, headers=GATE)).json()
        assert checked["checked_in_gate"] == "North"
        # Then South's: the first ticket was let in twice, and South is told at once.
        await south_context.set_offline(False)
        twice = re.compile(r"Early Bird: admitted twice: North \d\d:\d\d, South \d\d:\d\d")
        await expect(south.locator("#doubles-list")).to_have_text(twice, timeout=30_000)
        await screenshot(south, "gate-admitted-twice")
        await accessible(south, "gate-admitted-twice")
        # North hears of it too (the count's double, or its next sync).
        await north.clock.run_for(16_000)
        await expect(north.locator("#doubles-list")).to_have_text(twice, timeout=30_000)

        metrics = (await http.get("/metrics")).text
        assert "payment_status_gate_admitted_twice_total 1.0" in metrics
        count: dict[str, Any] = (await http.get("/api/gate/events/demo-fest/admitted", headers=GATE)).json()
        assert count["admitted"] == 2 and count["doubles"] == 1
        await north_context.close()
        await south_context.close()
