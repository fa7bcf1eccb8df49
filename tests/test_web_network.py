"""The status page on a phone's network: cut, slow, back again (issue 25).

The network is cut for real: the page talks to the service through `CutProxy`, which resets
open connections and every new one while cut, as a dead cell does. The page's states are
recorded as the browser draws them (a MutationObserver on `data-state`), so a state shown for
a moment between two checks is caught as surely as one that stays.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, Route, expect

from server.settings import Settings
from tests import browser_fixtures
from tests.browser import Buyer, Recorder, accessible, buy, phone_page, screenshot, title_is
from tests.cut_proxy import CutProxy
from tests.fulfilment_helpers import settled
from tests.local_http import local_client
from tests.server_harness import RunningServer, run_server

pytestmark = pytest.mark.asyncio(loop_scope="session")

# Each test's pages close with it (tests/browser_fixtures.py).
close_pages = browser_fixtures.close_pages

# How long the network stays down while the payment lands. The 25 s is longer than
# the whole of the old page's patience (about 15 s); OFFLINE_SECONDS=5 makes a quick run.
OFFLINE_SECONDS = float(os.environ.get("OFFLINE_SECONDS", "25"))
# The customer pays this long after checkout: inside the cut.
SANDBOX_DELAY = 4.0
# The prompt's window, short so that it ends while the network is down.
PROMPT_WINDOW = "2"

# Every state the page draws, and every line its transport shows, in order.
RECORD_STATES = """
window.__states = [];
window.__transport = [];
new MutationObserver((records) => {
  for (const record of records) {
    const target = record.target;
    if (record.type === "attributes" && target.id === "status") window.__states.push(target.dataset.state);
    const line = target.id === "transport" ? target : target.parentElement;
    if (record.type !== "attributes" && line?.id === "transport") window.__transport.push(line.textContent);
  }
}).observe(document, { subtree: true, attributes: true, attributeFilter: ["data-state"], childList: true,
                       characterData: true });
"""


@pytest_asyncio.fixture(loop_scope="session")
async def live(make_settings: Callable[..., Settings]) -> AsyncIterator[RunningServer]:
    settings = make_settings(
        "sqlite", "memory", sandbox_delay=SANDBOX_DELAY, env={"PROMPT_WINDOW": PROMPT_WINDOW}
    )
    async with run_server(settings) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="session")
async def proxy(live: RunningServer) -> AsyncIterator[tuple[CutProxy, str]]:
    cut_proxy = CutProxy(upstream_port=int(live.base_url.rsplit(":", 1)[1]))
    base_url = await cut_proxy.start()
    try:
        yield cut_proxy, base_url
    finally:
        await cut_proxy.stop()


async def recorded(page: Page) -> tuple[list[str], list[str]]:
    states, lines = await page.evaluate("() => [window.__states, window.__transport]")
    return list(states), list(lines)


@dataclass
class Phone:
    """One customer's phone in the cut: `radio` if it knows it is offline (the browser fires
    offline/online), not if it sits on a dead cell with the radio still "connected"."""

    radio: bool
    page: Page
    seen: Recorder
    order_id: str

    async def set_radio(self, offline: bool) -> None:
        """The browser told it is offline (or online again), as a phone that lost the cell is;
        one on a dead cell with the radio still "connected" is told nothing."""
        if self.radio:
            await self.page.context.set_offline(offline)


async def bought_on(browser: Browser, base_url: str, radio: bool, buyer: Buyer) -> Phone:
    page, seen = await phone_page(browser)
    await page.add_init_script(RECORD_STATES)
    phone = Phone(radio, page, seen, await buy(page, base_url, buyer))
    await title_is(page, "Check your phone")
    return phone


async def lost_the_connection(phone: Phone) -> None:
    """The prompt's window ends offline: the page says the connection is lost, offers nothing."""
    await title_is(phone.page, "Connection lost")
    await expect(phone.page.locator("#connection")).to_have_text("Connection lost: we'll keep checking.")
    await expect(phone.page.get_by_role("button", name="Send it again")).to_be_hidden()
    if phone.radio:
        await screenshot(phone.page, "connection-lost")
        await accessible(phone.page, "connection-lost")


async def paid_without_a_click(phone: Phone) -> None:
    # Back within 5 s of the network, with no click.
    await title_is(phone.page, "Payment received", timeout=5_000)
    await expect(phone.page.locator("#connection")).to_be_hidden()
    states, lines = await recorded(phone.page)
    assert "no-prompt" not in states, f"a paid customer was asked to send the prompt again: {states}"
    assert "offline" in states and states[-1] == "completed"
    assert not any("4 of 4" in line for line in lines), lines
    # A network that is down is not an attempt: no round was used up against it.
    assert len(phone.seen.logged("long polling attempt 2/4")) == 0, [line for _, line in phone.seen.console]


@pytest.mark.waits
async def test_offline_while_the_payment_lands_then_paid_without_a_click(
    browser: Browser, live: RunningServer, proxy: tuple[CutProxy, str]
) -> None:
    """One cell goes down for OFFLINE_SECONDS under two phones whose customers both pay in it:
    one knows it is offline, the other is on a dead network with no online/offline event."""
    cut_proxy, base_url = proxy
    phones = await asyncio.gather(
        bought_on(browser, base_url, True, Buyer(phone="712345678")),
        bought_on(browser, base_url, False, Buyer(phone="712345679")),
    )
    loop = asyncio.get_running_loop()
    cut_at = loop.time()
    cut_proxy.cut()
    for phone in phones:
        await phone.set_radio(offline=True)
    # The customers pay (the sandbox's callbacks reach the service) while the pages are cut off.
    async with local_client(live.base_url) as http:
        for phone in phones:
            assert (await settled(http, phone.order_id))["payment_status"] == "completed"
    await asyncio.gather(*(lost_the_connection(phone) for phone in phones))
    await asyncio.sleep(max(0.0, OFFLINE_SECONDS - (loop.time() - cut_at)))  # the length of the cut itself
    for phone in phones:
        # Each kept trying, with backoff: a handful of reads, not a burst.
        retries = len(phone.seen.logged("reading the order (retry)"))
        assert 2 <= retries <= 2 + OFFLINE_SECONDS / 2, (phone.radio, retries)
        if not phone.radio:  # the radio phone's tries never left it
            assert cut_proxy.refused >= retries, "the tries reached the network and found it dead"

    cut_proxy.restore()
    for phone in phones:
        await phone.set_radio(offline=False)
    await asyncio.gather(*(paid_without_a_click(phone) for phone in phones))


async def slow(route: Route) -> None:
    """A slow network: every status request waits 3 s before it goes out."""
    await asyncio.sleep(3)
    await route.continue_()


@pytest.mark.waits
async def test_a_slow_reload_of_a_paid_page_never_offers_the_prompt_again(
    browser: Browser, live: RunningServer
) -> None:
    page, _ = await phone_page(browser)
    checkout_answers: list[str] = []

    async def keep_checkout_answer(route: Route) -> None:
        response = await route.fetch()
        checkout_answers.append(await response.text())
        await route.fulfill(response=response)

    await page.route("**/api/orders", keep_checkout_answer)
    order_id = await buy(page, live.base_url)
    await title_is(page, "Payment received")
    await page.route("**/api/orders/**", slow)
    await page.add_init_script(RECORD_STATES)

    # This tab already saw it paid: the reload shows it paid at once.
    await page.reload()
    await title_is(page, "Payment received")
    assert (await recorded(page))[0] == ["completed"]

    # A tab that was closed before the payment landed kept only the checkout's answer, whose
    # prompt window has long passed: the page asks before it offers anything.
    await page.evaluate(
        "([id, answer]) => sessionStorage.setItem(`order:${id}`, answer)", [order_id, checkout_answers[0]]
    )
    await page.reload()
    await title_is(page, "Payment received")
    states, _ = await recorded(page)
    assert "no-prompt" not in states and states[-1] == "completed", states

    # A phone that never saw this order (the link from the e-mail), on the same slow network.
    other, _ = await phone_page(browser)
    await other.route("**/api/orders/**", slow)
    await other.add_init_script(RECORD_STATES)
    await other.goto(f"{live.base_url}/payment/{order_id}")
    await title_is(other, "Payment received")
    states, _ = await recorded(other)
    assert "no-prompt" not in states and states[-1] == "completed", states


@pytest.mark.waits
async def test_a_qr_image_that_failed_once_loads_when_the_network_is_back(
    browser: Browser, live: RunningServer
) -> None:
    page, _ = await phone_page(browser)
    failed: list[str] = []

    async def fail_first(route: Route) -> None:
        if not failed:
            failed.append(route.request.url)
            await route.abort("internetdisconnected")
        else:
            await route.continue_()

    await page.route("**/*.png", fail_first)
    await buy(page, live.base_url, Buyer())
    await title_is(page, "Payment received")
    image = page.locator("#ticket-list img")
    await expect(image).to_have_js_property("complete", True)
    assert await image.evaluate("image => image.naturalWidth > 0")
    await expect(page.locator("#ticket-list a.save")).to_be_visible()
    assert failed, "the first QR request was failed"
