"""The organiser's desk in a real browser (headless Chromium) against the real service.

An organiser relies on: only a desk token opens the desk; sales move by themselves when
someone pays, even through another process of the service; a payment held for review can be
completed (tickets and e-mails once) or closed with a note, and the order's story says so;
the door counts check-ins as they happen. Each screen is saved for the README and checked by
axe-core at 360 and 1280 px.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect

from server.settings import Settings
from tests import browser_fixtures
from tests.browser import accessible, close_contexts, phone_page, screenshot
from tests.fulfilment_helpers import SILENT_PHONE, all_sent, eventually, place
from tests.local_http import local_client
from tests.payhero_fixtures import TOKEN, sandbox_callback
from tests.process_harness import running_service
from tests.server_harness import RunningServer, run_server

ALICE = "alice-desk-token-0123456789abcdef"
DESK_TOKEN = f"alice:{ALICE}"
GATE_TOKEN = "gate-staff-token-for-desk-tests-0123"
# Well under the stream's own re-read (server/routes/desk_stream.py REFRESH, 15 s): a figure
# that changes within this came by the bell, not by the slow safety re-read.
BY_THE_BELL_MS = 5_000

pytestmark = pytest.mark.asyncio(loop_scope="session")


# Each test's pages close with it (tests/browser_fixtures.py).
close_pages = browser_fixtures.close_pages


def desk_env(**extra: str) -> dict[str, str]:
    return {"DESK_TOKEN": DESK_TOKEN, "GATE_TOKEN": GATE_TOKEN, "CALLBACK_TOKEN": TOKEN, **extra}


@pytest_asyncio.fixture(loop_scope="session")
async def desk(browser: Browser, make_settings: Callable[..., Settings]) -> AsyncIterator[RunningServer]:
    settings = make_settings("sqlite", "memory", sandbox_delay=0.2, env=desk_env())
    async with run_server(settings) as running:
        yield running
        await close_contexts(browser)  # the desk's live stream ends before the server stops


async def open_desk(page: Page, base_url: str, token: str = ALICE) -> None:
    await page.goto(f"{base_url}/desk")
    await page.get_by_label("Desk token").fill(token)
    await page.get_by_role("button", name="Open the desk").click()


def figure(page: Page, name: str, ticket_type: str = "early-bird", screen: str = "#sales") -> Any:
    return page.locator(f'{screen} [data-type="{ticket_type}"] [data-figure="{name}"]')


async def held_order(http: httpx.AsyncClient, email: str) -> dict[str, Any]:
    """An order whose customer paid 1 KES less than asked: held for review (amount_mismatch)."""
    order = await place(http, email, phone=SILENT_PHONE, quantity=1)
    body = sandbox_callback(order)
    body["response"]["Amount"] = order["amount"] - 1
    answer = await http.post(f"/api/payhero/callback/{TOKEN}", json=body)
    assert answer.json().get("review") == "amount_mismatch", answer.text
    return order


async def test_a_desk_token_opens_the_desk_and_a_wrong_one_is_refused(
    browser: Browser, desk: RunningServer
) -> None:
    page, _ = await phone_page(browser)
    await page.goto(f"{desk.base_url}/desk")
    await screenshot(page, "desk-token")
    await accessible(page, "desk-token")
    await open_desk(page, desk.base_url, token="not-the-desk-token-at-all")
    await expect(page.locator("#token-error")).to_contain_text("The desk token was not accepted")
    await expect(page.locator("#workspace")).to_be_hidden()
    await accessible(page, "desk-token-refused")

    await open_desk(page, desk.base_url)
    await expect(page.locator("#who")).to_have_text("alice")
    await expect(figure(page, "seats-left")).to_have_text("500 of 500")
    await expect(page.locator("#live-state")).to_contain_text("Live")
    await screenshot(page, "desk-sales")
    await accessible(page, "desk-sales")


async def test_a_payment_in_another_process_moves_the_sales_figures(
    browser: Browser, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings("sqlite", "redis", sandbox_delay=0.2, env=desk_env())
    async with run_server(settings) as here:
        other_env = desk_env(
            DATABASE_URL=settings.database_url,
            REDIS_URL=str(settings.redis_url),
            DATA_DIR=str(settings.data_dir),
            SANDBOX_DELAY="0.2",
            PUSH_LIMIT_PER_PHONE="0",
            PUSH_LIMIT_PER_IP="0",
            LOG_LEVEL="WARNING",
        )
        with running_service(other_env, tmp_path, name="other") as other:
            page, _ = await phone_page(browser)
            await open_desk(page, here.base_url)
            await expect(figure(page, "sold")).to_have_text("0")
            await expect(page.locator("#live-state")).to_contain_text("Live")
            async with local_client(other.base_url, timeout=10) as http:
                await place(http, "paid.elsewhere@example.com", quantity=2)
            # Paid in the other process: its bell reaches this one through Redis.
            await expect(figure(page, "sold")).to_have_text("2", timeout=BY_THE_BELL_MS)
            await expect(figure(page, "revenue")).to_contain_text("600")
            await expect(figure(page, "last-hour")).to_have_text("2")
            await close_contexts(browser)


async def test_complete_a_held_payment_issues_tickets_and_e_mails_once(
    browser: Browser, desk: RunningServer
) -> None:
    async with local_client(desk.base_url) as http:
        order = await held_order(http, "wanjiru@example.com")
    page, _ = await phone_page(browser)
    await open_desk(page, desk.base_url)
    await expect(page.locator("#review-count")).to_have_text("1")
    await page.get_by_role("button", name="Held for review").click()
    held = page.locator(f'#held [data-order="{order["order_id"]}"]')
    await expect(held).to_contain_text("different amount")
    await screenshot(page, "desk-review")
    await accessible(page, "desk-review")

    await held.click()
    story = page.locator("#story")
    await expect(story.locator("#held-reason")).to_contain_text("different amount")
    await story.get_by_role("button", name="Ask PayHero again").click()
    await expect(story).to_contain_text("Asked PayHero again by alice")
    await story.get_by_role("button", name="Complete: I have checked the M-PESA statement").click()
    await expect(page.locator("#receipt-error")).to_contain_text("receipt number")
    await screenshot(page, "desk-story-held")
    await accessible(page, "desk-story-held")

    await page.get_by_label("M-PESA receipt number").fill("sae3yulr0y")
    await story.get_by_role("button", name="Complete: I have checked the M-PESA statement").click()
    await expect(story.locator("#story-title")).to_contain_text("Paid")
    await expect(story).to_contain_text("Completed after checking the M-PESA statement by alice")
    await expect(story).to_contain_text("receipt SAE3YULR0Y")
    await expect(page.locator("#review-count")).to_have_text("")
    await eventually(lambda: all_sent(desk.services.database))
    await page.get_by_role("button", name="Held for review").click()
    await page.get_by_role("button", name="Orders").click()
    await page.get_by_label("Find an order").fill(order["order_number"])
    await page.get_by_role("button", name="Search").click()
    await expect(story.locator("li", has_text="tickets to")).to_have_count(1)
    await expect(story.locator("li", has_text="receipt to")).to_have_count(1)
    await expect(story.locator("li", has_text="Early Bird ·")).to_have_count(1)
    await expect(story.locator("li", has_text="tickets to")).to_contain_text("sent")
    await screenshot(page, "desk-story-completed")
    await accessible(page, "desk-story-completed")

    # The door counts the check-in as it happens.
    code = (await desk.services.reader.get(order["order_id"])).document["tickets"][0]["code"]  # type: ignore[union-attr]
    await page.get_by_role("button", name="Door").click()
    await expect(figure(page, "checked-in", screen="#door")).to_have_text("0")
    async with local_client(desk.base_url) as http:
        checked = await http.post(
            "/api/tickets/check-in",
            json={"code": code, "gate": "North"},
            headers={"Authorization": f"Bearer {GATE_TOKEN}"},
        )
        assert checked.status_code == 200, checked.text
    await expect(figure(page, "checked-in", screen="#door")).to_have_text("1", timeout=BY_THE_BELL_MS)
    # And by which gate, for the ticket type and for the whole event.
    for kind in ("early-bird", "all"):
        north = page.locator(f'#door [data-type="{kind}"] [data-figure="gate"][data-gate="North"]')
        await expect(north).to_have_text("1")
        await expect(page.locator(f'#door [data-type="{kind}"] dt', has_text="North gate")).to_have_count(1)
    await screenshot(page, "desk-door")
    await accessible(page, "desk-door")
    await page.get_by_role("button", name="Exports").click()
    await screenshot(page, "desk-exports")
    await accessible(page, "desk-exports")


async def test_close_records_the_note(browser: Browser, desk: RunningServer) -> None:
    async with local_client(desk.base_url) as http:
        order = await held_order(http, "otieno@example.com")
    page, _ = await phone_page(browser)
    await open_desk(page, desk.base_url)
    await page.get_by_role("button", name="Orders").click()
    await page.get_by_label("Find an order").fill("otieno@example.com")
    await page.get_by_role("button", name="Search").click()
    story = page.locator("#story")
    await expect(story.locator("#held-reason")).to_be_visible()
    await story.get_by_role("button", name="Close: refunded outside the service").click()
    await expect(page.locator("#close-note-error")).to_contain_text("Say what was refunded")
    await page.get_by_label("What was refunded, and how").fill("Refunded KES 299 by M-PESA reversal")
    await story.get_by_role("button", name="Close: refunded outside the service").click()
    await expect(story).to_contain_text("Closed: refunded outside the service by alice")
    await expect(story).to_contain_text("Note: Refunded KES 299 by M-PESA reversal")
    await expect(story.locator("#story-title")).to_contain_text("Cancelled")
    await expect(story.locator("#held-reason")).to_have_count(0)
    assert order["order_number"] in (await story.locator("#story-title").text_content() or "")
    await screenshot(page, "desk-story-closed")
    await accessible(page, "desk-story-closed")
