"""The gate page in headless Chromium against the real service: the token checked on entry,
codes typed the way attendants type them, one request to admit, and a verdict screen for
each answer (screenshot, axe at 360 and 1280 px). The page's clock is Playwright's, so a
verdict stays until the test lets time pass and scanning resume."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect

from server.settings import Settings
from server.tickets.short_codes import check_symbol
from tests import browser_fixtures
from tests.browser import accessible, phone_page, screenshot
from tests.gate_helpers import GATE, GATE_TOKEN, ended_catalogue, paid_tickets
from tests.local_http import local_client
from tests.server_harness import RunningServer, run_server

pytestmark = pytest.mark.asyncio(loop_scope="session")


# Each test's pages close with it (tests/browser_fixtures.py).
close_pages = browser_fixtures.close_pages


@pytest_asyncio.fixture(loop_scope="session")
async def gate(
    make_settings: Callable[..., Settings],
) -> AsyncIterator[tuple[RunningServer, list[dict[str, Any]]]]:
    """The service with one paid order of two tickets."""
    settings = make_settings("sqlite", "memory", sandbox_delay=0.2, env={"GATE_TOKEN": GATE_TOKEN})
    async with run_server(settings) as live:
        async with local_client(live.base_url) as http:
            tickets = await paid_tickets(http, 2)
        yield live, tickets


async def open_gate(page: Page, base_url: str) -> None:
    # Timers are the test's: a verdict stays on screen until the test moves the clock.
    await page.clock.install()
    await page.goto(f"{base_url}/gate")


async def enter(page: Page, door: str, token: str) -> None:
    await page.get_by_label("Name of this gate").fill(door)
    await page.get_by_label("Gate token").fill(token)
    await page.get_by_role("button", name="Start checking tickets").click()


async def type_code(page: Page, code: str) -> None:
    await page.get_by_label("Ticket code").fill(code)
    await page.locator("#check").click()


async def checked_in(live: RunningServer, code: str) -> bool:
    async with local_client(live.base_url) as http:
        answer = await http.get("/api/tickets/verify", params={"code": code}, headers=GATE)
    return bool(answer.json()["checked_in"])


async def test_the_token_is_checked_on_entry_and_a_typed_short_code_is_admitted_once(
    browser: Browser, gate: tuple[RunningServer, list[dict[str, Any]]]
) -> None:
    live, (first, second) = gate
    page, _ = await phone_page(browser)
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    await open_gate(page, live.base_url)
    await expect(page.get_by_label("Name of this gate")).to_be_focused()
    await screenshot(page, "gate-token")
    await accessible(page, "gate-token")

    # A wrong token is refused at once, before any ticket.
    await enter(page, "North", "not-the-gate-token")
    await expect(page.locator("#token-error")).to_contain_text("not accepted")
    await expect(page.get_by_label("Gate token")).to_be_focused()
    await screenshot(page, "gate-token-refused")
    await accessible(page, "gate-token-refused")
    await page.get_by_label("Gate token").fill(GATE_TOKEN)
    await page.get_by_role("button", name="Start checking tickets").click()
    await expect(page.locator("#gate-where")).to_have_text("Gate: North · Demo Fest 2026")
    await expect(page.get_by_label("Ticket code")).to_be_focused()

    # Lower case, spaces for dashes, a full stop: as an attendant types it from a phone.
    typed = first["short_code"].lower().replace("-", " ") + "."
    await type_code(page, typed)
    verdict = page.locator("#verdict")
    await expect(verdict).to_have_attribute("data-verdict", "admit")
    await expect(page.locator("#verdict-title")).to_have_text("ADMIT")
    await expect(page.locator("#verdict-detail")).to_have_text("Early Bird · 1 of 2 in this order")
    await expect(page.get_by_role("button", name="Next ticket")).to_be_focused()
    await expect(page.get_by_role("button", name="Check in")).to_have_count(0)
    assert len(posts) == 1, "one request admits"
    assert await checked_in(live, first["code"])
    await screenshot(page, "gate-admit")
    await accessible(page, "gate-admit")
    # Scanning resumes by itself.
    await page.clock.run_for(3000)
    await expect(verdict).to_be_hidden()
    await expect(page.get_by_label("Ticket code")).to_have_value("")

    await type_code(page, first["short_code"])
    await expect(verdict).to_have_attribute("data-verdict", "already-in")
    await expect(page.locator("#verdict-title")).to_have_text("ALREADY IN")
    await expect(page.locator("#verdict-detail")).to_have_text(
        re.compile(r"^Checked in at \d\d:\d\d at North\.$")
    )
    await screenshot(page, "gate-already-in")
    await accessible(page, "gate-already-in")
    await page.get_by_role("button", name="Next ticket").click()

    # A code with a good check character that is nobody's ticket; it stays to be corrected.
    data = ("Z" if second["short_code"][0] != "Z" else "Y") + second["short_code"].replace("-", "")[1:10]
    forged = data + check_symbol(data)
    await type_code(page, forged)
    await expect(verdict).to_have_attribute("data-verdict", "not-valid")
    await expect(page.locator("#verdict-title")).to_have_text("NOT VALID")
    await screenshot(page, "gate-not-valid")
    await accessible(page, "gate-not-valid")
    await page.get_by_role("button", name="Next ticket").click()
    await expect(page.get_by_label("Ticket code")).to_have_value(forged)

    # "Only check it": the answer, and nobody let in.
    await page.get_by_label("Only check it").check()
    await type_code(page, second["short_code"])
    await expect(verdict).to_have_attribute("data-verdict", "valid")
    await expect(page.locator("#verdict-title")).to_have_text("VALID, NOT IN YET")
    await screenshot(page, "gate-check-only")
    await accessible(page, "gate-check-only")
    assert not await checked_in(live, second["code"])
    assert len(posts) == 3, "checking only posts nothing"


async def test_a_token_refused_later_asks_again_and_keeps_the_typed_code(
    browser: Browser, gate: tuple[RunningServer, list[dict[str, Any]]]
) -> None:
    live, (_, second) = gate
    page, _ = await phone_page(browser)
    await open_gate(page, live.base_url)
    await enter(page, "South", GATE_TOKEN)
    await expect(page.get_by_label("Ticket code")).to_be_visible()
    # The token is revoked meanwhile (here: this tab's copy goes bad).
    await page.evaluate("sessionStorage.setItem('gate:token', 'revoked-gate-token-0000')")
    await type_code(page, second["short_code"])
    await expect(page.locator("#token-error")).to_contain_text("not accepted")
    await expect(page.get_by_label("Name of this gate")).to_have_value("South")
    assert not await checked_in(live, second["code"])
    await page.get_by_label("Gate token").fill(GATE_TOKEN)
    await page.get_by_role("button", name="Start checking tickets").click()
    await expect(page.get_by_label("Ticket code")).to_have_value(second["short_code"])
    # The gate's name is kept on the device: a new tab asks only for the token.
    again = await page.context.new_page()
    await again.goto(f"{live.base_url}/gate")
    await expect(again.get_by_label("Name of this gate")).to_have_value("South")
    await expect(again.get_by_label("Gate token")).to_be_focused()


async def test_after_the_event_the_gate_says_event_over(
    browser: Browser, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings("sqlite", "memory", sandbox_delay=0.2, env={"GATE_TOKEN": GATE_TOKEN})
    async with run_server(settings) as live, local_client(live.base_url) as http:
        (ticket,) = await paid_tickets(http, 1)
    async with run_server(settings.with_overrides(catalogue_file=ended_catalogue(tmp_path))) as live:
        page, _ = await phone_page(browser)
        await open_gate(page, live.base_url)
        await enter(page, "North", GATE_TOKEN)
        await type_code(page, ticket["short_code"])
        await expect(page.locator("#verdict")).to_have_attribute("data-verdict", "event-over")
        await expect(page.locator("#verdict-title")).to_have_text("EVENT OVER")
        # 23:00 in Nairobi, whatever the phone's own timezone.
        await expect(page.locator("#verdict-detail")).to_have_text(
            "Demo Fest 2026 is over. It ended at 23:00."
        )
        await screenshot(page, "gate-event-over")
        await accessible(page, "gate-event-over")
        assert not await checked_in(live, ticket["code"])
