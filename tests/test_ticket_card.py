"""A ticket worth keeping: the card image, one ticket per printed page, and a ticket's own link.

Against the real service in sandbox mode and headless Chromium. The card's QR is read back by
ZXing, the printed page is counted in Chromium's own PDF, and the link a friend gets shows
that ticket only, never the order it came from.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import pytest_asyncio
import zxingcpp
from PIL import Image
from playwright.async_api import Browser, expect

from server.settings import Settings
from tests import browser_fixtures
from tests.browser import (
    PHONE,
    Buyer,
    accessible,
    buy,
    phone_page,
    save_picture,
    scan,
    screenshot,
    title_is,
)
from tests.fulfilment_helpers import place, settled
from tests.local_http import local_client
from tests.server_harness import RunningServer, run_server

pytestmark = pytest.mark.asyncio(loop_scope="session")

# Each test's pages close with it (tests/browser_fixtures.py).
close_pages = browser_fixtures.close_pages


@pytest.fixture
def sandbox_settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings("sqlite", "memory", sandbox_delay=0.3)


@pytest_asyncio.fixture(loop_scope="session")
async def live(sandbox_settings: Settings) -> AsyncIterator[RunningServer]:
    async with run_server(sandbox_settings) as running:
        yield running


def read_qr(png: bytes) -> list[str]:
    image = Image.open(io.BytesIO(png)).convert("L")
    pixels = memoryview(image.tobytes()).cast("B", shape=(image.height, image.width))
    return [barcode.text for barcode in zxingcpp.read_barcodes(pixels)]


async def paid(http: httpx.AsyncClient, quantity: int = 2) -> dict[str, Any]:
    order = await place(http, "amina@example.com", quantity=quantity)
    document = await settled(http, order["order_id"])
    assert document["payment_status"] == "completed"
    return document


async def test_the_card_carries_the_ticket_and_is_named_after_it(live: RunningServer) -> None:
    async with local_client(live.base_url) as http:
        document = await paid(http)
        # The status document links each ticket's own page and card, and names nobody.
        assert "Amina" not in json.dumps(document)
        for number, ticket in enumerate(document["tickets"], start=1):
            assert re.fullmatch(r"/ticket/[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{16}", ticket["share_url"])
            card = await http.get(ticket["card_url"])
            assert card.status_code == 200 and card.headers["content-type"] == "image/png"
            assert card.headers["content-disposition"] == (
                f'attachment; filename="demo-fest-2026-early-bird-{number}.png"'
            )
            assert "no-store" in card.headers["cache-control"]
            assert read_qr(card.content) == [ticket["code"]], "a gate scanner reads the card's QR"
            save_picture(f"ticket-card-{number}.png", card.content)
        swahili = await http.get(document["tickets"][0]["card_url"], params={"lang": "sw"})
        english = await http.get(document["tickets"][0]["card_url"], params={"lang": "en"})
        assert swahili.status_code == 200 and swahili.content != english.content
        save_picture("sw-ticket-card.png", swahili.content)

        shared = (
            await http.get("/api/tickets/shared/" + document["tickets"][1]["share_url"].split("/")[-1])
        ).json()
        assert shared["holder_first_name"] == "Amina"
        assert (shared["number"], shared["count"]) == (2, 2)
        leaked = json.dumps(shared)
        for private in (
            document["order_id"],
            document["order_number"],
            document["receipt_number"],
            "0712",
            "amina@",
        ):
            assert str(private) not in leaked

        # A link whose mark does not fit its ticket, or no link at all: the same 404.
        ticket_id = document["tickets"][0]["ticket_id"]
        for wrong in (f"{ticket_id}.{'A' * 16}", ticket_id, "x" * 40, f"{'A' * 16}.{'A' * 16}"):
            answer = await http.get(f"/api/tickets/shared/{wrong}")
            assert answer.status_code == 404 and answer.json()["error"] == "ticket_not_found", wrong
            assert (await http.get(f"/api/tickets/shared/{wrong}/card.png")).status_code == 404


async def test_save_print_and_share_a_ticket_with_a_friend(browser: Browser, live: RunningServer) -> None:
    page, _ = await phone_page(browser)
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live.base_url)
    # Chromium headless may offer no share sheet: the link is copied instead.
    await page.add_init_script("delete Navigator.prototype.share")
    await buy(page, live.base_url, Buyer(quantity=2))
    await title_is(page, "Payment received")
    async with local_client(live.base_url) as http:
        document = (await http.get(f"/api/orders/{page.url.rsplit('/', 1)[1]}")).json()
    tickets = document["tickets"]

    save = page.locator("#ticket-list a.save").nth(1)
    await expect(save).to_be_visible()
    assert await save.get_attribute("download") == "demo-fest-2026-early-bird-2.png"
    async with page.expect_download() as downloading:
        await save.click()
    download = await downloading.value
    assert download.suggested_filename == "demo-fest-2026-early-bird-2.png"
    assert read_qr((await download.path()).read_bytes()) == [tickets[1]["code"]]  # type: ignore[union-attr]

    await page.get_by_role("button", name="Share ticket 2").click()
    await expect(page.locator("#ticket-list .share-status").nth(1)).to_contain_text("Link copied")
    link = await page.evaluate("navigator.clipboard.readText()")
    assert link == live.base_url + tickets[1]["share_url"]
    await screenshot(page, "ticket-share-copied")

    # Printed: one ticket per page, each with its event, nothing to press.
    await page.emulate_media(media="print")
    await expect(page.locator("#ticket-list .ticket-actions").first).to_be_hidden()
    await expect(page.locator("#ticket-list .print-only").first).to_contain_text("Demo Fest 2026")
    pdf = await page.pdf(format="A5")
    await page.emulate_media(media="screen")
    assert len(re.findall(rb"/Type\s*/Page(?!s)", pdf)) == 2, "one ticket per printed page"

    # The friend opens the link on their own phone: that ticket only, not the buyer's order.
    friend = await browser.new_context(**PHONE)  # type: ignore[arg-type]
    theirs = await friend.new_page()
    await theirs.goto(link)
    await expect(theirs.locator("#shared-title")).to_have_text("Demo Fest 2026")
    await expect(theirs.locator("#holder")).to_have_text("Name on the ticket: Amina")
    await expect(theirs.locator("#event-when")).to_contain_text("16:00 (Nairobi time)")
    await expect(theirs.locator("#event-venue")).to_have_text("Uhuru Gardens, Nairobi")
    await expect(theirs.locator("#ticket-list .short-code")).to_have_text(tickets[1]["short_code"])
    image = theirs.locator("#ticket-list img")
    await expect(image).to_have_count(1)
    await expect(image).to_have_js_property("complete", True)
    assert await scan(image) == [tickets[1]["code"]]
    text = await theirs.locator("body").inner_text()
    for private in (document["order_number"], document["receipt_number"], "amina@example.com", "712 345"):
        assert str(private) not in text
    await accessible(theirs, "a ticket's own link")
    await screenshot(theirs, "ticket-shared")
    await friend.close()

    # In Kiswahili, as the friend's phone asks.
    swahili = await browser.new_context(**PHONE, extra_http_headers={"Accept-Language": "sw"})  # type: ignore[arg-type]
    theirs = await swahili.new_page()
    await theirs.goto(link)
    await expect(theirs.locator("#holder")).to_have_text("Jina kwenye tiketi: Amina")
    await expect(theirs.locator("#event-when")).to_contain_text("(saa za Nairobi)")
    await expect(theirs.get_by_role("button", name="Tuma tiketi 2")).to_be_visible()
    await accessible(theirs, "a ticket's own link, Kiswahili")
    await screenshot(theirs, "sw-ticket-shared")
    await theirs.emulate_media(color_scheme="dark")
    await accessible(theirs, "a ticket's own link, Kiswahili, dark")
    await screenshot(theirs, "sw-ticket-shared-dark")
    await theirs.goto(f"{live.base_url}/ticket/{'A' * 16}.{'B' * 16}")
    await expect(theirs.locator("#shared-title")).to_have_text("Hatuwezi kupata tiketi hii")
    await swahili.close()
