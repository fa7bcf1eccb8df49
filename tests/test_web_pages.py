"""The pages in a real browser (headless Chromium) against the real service in sandbox mode.

The sandbox plays PayHero and the customer: the phone's last four digits pick the answer
(API.md), and its callback comes over real HTTP, so each test runs the whole path a
customer's payment takes. Each state a customer can meet is saved as a phone-size
screenshot (`make screenshots` writes them to docs/screenshots/), and checked by axe-core
at 360 and 1280 px. One browser serves the whole module: the tests share its event loop.
"""

from __future__ import annotations

import asyncio
import base64
import email.policy
import html
import json
import re
from collections.abc import AsyncIterator, Callable
from email.message import EmailMessage
from email.parser import BytesParser

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, Route, expect

from server.lifecycle import EXPIRED
from server.settings import Settings
from server.transitions.change import Change
from tests import browser_fixtures
from tests.browser import (
    Buyer,
    accessible,
    buy,
    fill_checkout,
    phone_page,
    scan,
    screenshot,
    title_is,
)
from tests.buffering_proxy import BufferingProxy
from tests.fulfilment_helpers import all_sent, eventually, parts, place, settled
from tests.local_http import local_client
from tests.server_harness import RunningServer, run_server, until

# The sandbox customer answers after this long; short, but long enough to see "check your phone".
SANDBOX_DELAY = 1.0

pytestmark = pytest.mark.asyncio(loop_scope="session")

# Each test's pages close with it (tests/browser_fixtures.py).
close_pages = browser_fixtures.close_pages


@pytest.fixture
def sandbox_settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings("sqlite", "memory", sandbox_delay=SANDBOX_DELAY)


@pytest_asyncio.fixture(loop_scope="session")
async def live(sandbox_settings: Settings) -> AsyncIterator[RunningServer]:
    async with run_server(sandbox_settings) as running:
        yield running


async def final_document(live: RunningServer, order_id: str) -> dict[str, object]:
    async with local_client(live.base_url) as http:
        response = await http.get(f"/api/orders/{order_id}")
    body: dict[str, object] = response.json()
    return body


async def expect_paid(page: Page, live: RunningServer, order_id: str, quantity: int = 1) -> None:
    """The success state: order number, amount, M-PESA receipt, one scannable QR per ticket."""
    await title_is(page, "Payment received")
    document = await final_document(live, order_id)
    assert document["payment_status"] == "completed"
    await expect(page.locator("#order-number")).to_have_text(str(document["order_number"]))
    await expect(page.locator("#amount")).to_have_text(f"KES {document['amount']}")
    await expect(page.locator("#receipt")).to_have_text(str(document["receipt_number"]))
    tickets = document["tickets"]
    assert isinstance(tickets, list) and len(tickets) == quantity
    images = page.locator("#ticket-list img")
    await expect(images).to_have_count(quantity)
    for index, ticket in enumerate(tickets):
        image = images.nth(index)
        await expect(image).to_have_js_property("complete", True)
        # Drawn at least 240 CSS px wide on a 360 px screen, and a scanner reads what was drawn.
        box = await image.bounding_box()
        assert box is not None and box["width"] >= 240
        assert await scan(image) == [ticket["code"]]
    # The ticket as the customer keeps it: the event in its own timezone, the type as the
    # catalogue names it, each QR to save, and the event for their calendar.
    await expect(page.locator("#event-name")).to_have_text("Demo Fest 2026")
    # The demo event rolls to its next year once its sales end (server/sales_window.py).
    year = str(document["event"]["starts_at"])[:4]  # type: ignore[index]
    await expect(page.locator("#event-when")).to_contain_text(f"12 Dec {year}")
    await expect(page.locator("#event-when")).to_contain_text("16:00 (Nairobi time)")
    await expect(page.locator("#event-venue")).to_have_text("Uhuru Gardens, Nairobi")
    await expect(page.locator("#paid-at")).to_contain_text("(Nairobi time)")
    await expect(page.locator("#ticket-list .kind").first).to_contain_text("Early Bird")
    saves = page.locator("#ticket-list a.save")
    await expect(saves).to_have_count(quantity)
    # Save gives the ticket card, named after the event and the ticket (test_ticket_card.py).
    assert await saves.first.get_attribute("href") == f"{tickets[0]['card_url']}?lang=en"
    assert await saves.first.get_attribute("download") == "demo-fest-2026-early-bird-1.png"
    calendar = page.get_by_role("link", name="Add to calendar")
    await expect(calendar).to_be_visible()
    ics = await page.request.get(live.base_url + str(await calendar.get_attribute("href")))
    assert ics.ok and "SUMMARY:Demo Fest 2026" in await ics.text()


# --- SSE, and each way it can fail ------------------------------------------------------


async def test_checkout_to_paid_over_one_event_stream(
    full_chromium: Browser, stack_settings: Settings, stack: tuple[str, str]
) -> None:
    # In the full browser, not the headless shell the other page tests use (tests/browser.py).
    async with run_server(stack_settings.with_overrides(sandbox_delay=SANDBOX_DELAY)) as live:
        page, seen = await phone_page(full_chromium)
        await fill_checkout(page, live.base_url, Buyer())
        if stack == ("sqlite", "memory"):
            await screenshot(page, "checkout")
            await accessible(page, "checkout")
        await page.click("#pay")
        await page.wait_for_url("**/payment/*")
        order_id = page.url.rsplit("/", 1)[1]
        await expect_paid(page, live, order_id)
        if stack == ("sqlite", "memory"):
            await screenshot(page, "paid")
            await accessible(page, "paid")
    # One status request for the whole payment: the stream, which delivered the result.
    assert seen.status_requests == [f"/api/orders/{order_id}/events"]
    assert seen.logged("SSE connected")


async def test_without_event_source_long_polling_takes_over(browser: Browser, live: RunningServer) -> None:
    page, seen = await phone_page(browser, without_event_source=True)
    order_id = await buy(page, live.base_url)
    await expect_paid(page, live, order_id)
    assert seen.logged("EventSource is not available")
    assert not seen.requests_to("/events")
    # The checkout's answer gave the page its cursor: one held wait brought the result.
    assert 1 <= len(seen.status_requests) <= 2
    assert all("/wait?since=" in path for path in seen.status_requests)


async def test_aborted_stream_falls_back_to_long_polling(browser: Browser, live: RunningServer) -> None:
    page, seen = await phone_page(browser)
    await page.route("**/api/orders/*/events", lambda route: route.abort())
    order_id = await buy(page, live.base_url)
    await expect_paid(page, live, order_id)
    assert seen.logged("SSE failed before its first event: falling back to long polling")
    assert len(seen.requests_to("/events")) == 1 and seen.requests_to("/wait")


async def test_stream_failing_again_and_again_mid_way_falls_back(
    browser: Browser, live: RunningServer
) -> None:
    streams = 0
    # The order as checkout answered it, before the payment: the sandbox may have paid it by
    # the time the stream is asked for on a loaded machine, and a final status would end the
    # page's stream before it could fail.
    created: asyncio.Future[dict[str, object]] = asyncio.get_running_loop().create_future()

    async def checkout(route: Route) -> None:
        answer = await route.fetch()
        if route.request.method == "POST" and answer.status == 201 and not created.done():
            created.set_result(await answer.json())
        await route.fulfill(response=answer)

    async def flaky_stream(route: Route) -> None:
        # The first connection brings the unpaid status, then drops; every reconnection fails.
        nonlocal streams
        streams += 1
        if streams > 1:
            await route.abort()
            return
        document = {key: value for key, value in (await created).items() if key != "status_url"}
        event = f"retry: 200\nevent: status\nid: {document['version']}\ndata: {json.dumps(document)}\n\n"
        await route.fulfill(status=200, headers={"Content-Type": "text/event-stream"}, body=event)

    page, seen = await phone_page(browser)
    await page.route("**/api/orders", checkout)
    await page.route("**/api/orders/*/events", flaky_stream)
    order_id = await buy(page, live.base_url)
    await expect_paid(page, live, order_id)
    assert seen.logged("SSE connected") and seen.logged("SSE error 1/3")
    assert seen.logged("SSE failed 3 times in a row: falling back to long polling")
    assert streams == 3 and seen.requests_to("/wait")


@pytest.mark.waits
async def test_buffering_proxy_makes_the_page_fall_back_within_seconds(
    browser: Browser, sandbox_settings: Settings
) -> None:
    # The customer answers after the page's 4 s of patience: a buffering proxy only lets a
    # stream through when it ends, so a quicker answer would arrive, late, over SSE itself.
    async with run_server(sandbox_settings.with_overrides(sandbox_delay=6.0)) as live:
        proxy = BufferingProxy(upstream_port=int(live.base_url.rsplit(":", 1)[1]))
        base_url = await proxy.start()
        try:
            page, seen = await phone_page(browser)
            order_id = await buy(page, base_url)
            await expect_paid(page, live, order_id)
        finally:
            await proxy.stop()
    opened, fell_back = seen.logged("SSE opening"), seen.logged("falling back to long polling")
    assert len(opened) == 1 and len(fell_back) == 1
    assert "a proxy may be buffering" in next(line for _, line in seen.console if "falling back" in line)
    # "Within a few seconds": the page's 4 s, plus slack for a busy CI machine.
    assert 3.5 <= fell_back[0] - opened[0] <= 8
    assert proxy.held_bytes > 0, "the server did send events; the proxy kept them from the page"


# --- Long polling's limits --------------------------------------------------------------


@pytest.mark.waits
async def test_no_callback_gives_four_attempts_then_still_waiting_and_check_again(
    browser: Browser, make_settings: Callable[..., Settings]
) -> None:
    # The server holds each wait 1 s instead of 25 s; the page's own timings stay as shipped.
    settings = make_settings(
        "sqlite", "memory", sandbox_delay=SANDBOX_DELAY, wait_timeout=1.0, wait_timeout_max=1.0
    )
    async with run_server(settings) as live:
        page, seen = await phone_page(browser, without_event_source=True)
        order_id = await buy(page, live.base_url, Buyer(phone="712349999"))
        await title_is(page, "Check your phone")
        await expect(page.locator("#countdown")).to_contain_text("The prompt expires in")
        await screenshot(page, "processing")

        await title_is(page, "Still waiting for M-PESA", timeout=40_000)
        assert len(seen.requests_to("/wait")) == 4
        assert [len(seen.logged(f"long polling attempt {n}/4")) for n in (1, 2, 3, 4)] == [1, 1, 1, 1]
        check_again = page.get_by_role("button", name="Check again")
        await expect(check_again).to_be_visible()
        await screenshot(page, "still-waiting")

        await check_again.click()
        await until(lambda: len(seen.logged("long polling attempt 1/4")) == 2)
        await expect(check_again).to_be_hidden()
        await until(lambda: len(seen.requests_to("/wait")) == 5)
        # The new round is there to hear the order's end: here, the service gives up on it.
        await live.services.changes.apply(order_id, Change(EXPIRED, source="test"))
        await title_is(page, "Payment request expired")
        await expect(page.get_by_role("link", name="Try again")).to_be_visible()
        await screenshot(page, "expired")


# --- The answers a customer can give ----------------------------------------------------


async def test_cancelled_then_try_again_returns_to_a_prefilled_checkout(
    browser: Browser, live: RunningServer
) -> None:
    buyer = Buyer(
        email="wanjiru@example.com",
        first_name="Wanjiru",
        last_name="Kamau",
        phone="0712341032",
        ticket_type="regular",
        quantity=2,
    )
    page, _ = await phone_page(browser)
    order_id = await buy(page, live.base_url, buyer)
    await title_is(page, "Payment cancelled")
    await expect(page.locator("#message")).to_contain_text("no money was taken")
    await screenshot(page, "cancelled")
    assert order_id not in (await page.get_by_role("link", name="Try again").get_attribute("href") or "")

    await page.get_by_role("link", name="Try again").click()
    await page.wait_for_url(f"{live.base_url}/?*")
    await expect(page.locator("#checkout")).to_be_visible()
    assert "wanjiru" not in page.url.lower() and "1032" not in page.url, "no personal data in the URL"
    await expect(page.locator("#ticket_type")).to_have_value("regular")
    await expect(page.locator("#quantity")).to_have_value("2")
    await expect(page.locator("#email")).to_have_value(buyer.email)
    await expect(page.locator("#first_name")).to_have_value(buyer.first_name)
    await expect(page.locator("#last_name")).to_have_value(buyer.last_name)
    await expect(page.locator("#phone")).to_have_value(buyer.phone)
    await expect(page.locator("#total")).to_have_text("KES 1,000")


@pytest.mark.parametrize(
    ("suffix", "title", "reason", "name"),
    [
        ("0001", "Payment failed", "balance was not enough to pay KES 300", "failed-insufficient-balance"),
        ("2001", "Payment failed", "PIN entered was wrong", "failed-wrong-pin"),
        # The service files "cannot be reached" (1037) as expired: the prompt timed out.
        ("1037", "Payment request expired", "could not reach your phone", "expired-unreachable"),
    ],
)
async def test_unsuccessful_payments_say_why_in_words(
    browser: Browser, live: RunningServer, suffix: str, title: str, reason: str, name: str
) -> None:
    page, _ = await phone_page(browser)
    await buy(page, live.base_url, Buyer(phone=f"71234{suffix}"))
    await title_is(page, title)
    await expect(page.locator("#message")).to_contain_text(reason)
    await expect(page.get_by_role("link", name="Try again")).to_be_visible()
    await screenshot(page, name)


# --- The form ---------------------------------------------------------------------------


async def test_checkout_shows_field_errors_from_the_page_and_from_the_server(
    browser: Browser, live: RunningServer
) -> None:
    page, _ = await phone_page(browser)
    posts: list[str] = []
    page.on("request", lambda request: posts.append(request.url) if request.method == "POST" else None)
    await fill_checkout(page, live.base_url, Buyer(email="not-an-address", first_name="", phone="12345"))
    await page.click("#pay")
    await expect(page.locator("#email-error")).to_contain_text("does not look like an e-mail")
    await expect(page.locator("#first_name-error")).to_have_text("Enter your first name.")
    await expect(page.locator("#phone-error")).to_contain_text("9 digits after +254")
    await expect(page.locator("#phone")).to_have_attribute("aria-invalid", "true")
    # The summary names the fields in words, not "marked in red", and focus is on the first.
    summary = page.locator("#form-error")
    await expect(summary).to_have_text("Please correct 3 fields: E-mail, First name, Phone number.")
    await expect(page.locator("#email")).to_be_focused()
    ring, card = await page.evaluate(
        """() => [getComputedStyle(document.activeElement).outlineColor,
                  getComputedStyle(document.querySelector('.card')).backgroundColor]"""
    )
    assert contrast(ring, card) >= 3, f"the focus ring {ring} on the card {card}"
    await screenshot(page, "checkout-errors")
    await accessible(page, "checkout-errors")
    assert posts == [], "nothing is sent while the page itself sees a mistake"

    # Fixed as they are typed once the customer has tried to pay, summary included; and the
    # number is shown as the one the prompt will go to.
    await page.fill("#phone", "0712 345 678")
    await expect(page.locator("#phone-error")).to_be_empty()
    await expect(page.locator("#phone-hint")).to_have_text("The prompt goes to +254 712 345 678.")
    await expect(summary).to_have_text("Please correct 2 fields: E-mail, First name.")

    # What only the server knows (which events are on sale) comes back as its 422 `fields`.
    await page.fill("#email", "amina@example.com")
    await page.fill("#first_name", "Amina")
    await page.eval_on_selector(
        "#event", "select => { select.add(new Option('Gone', 'gone-fest')); select.value = 'gone-fest'; }"
    )
    await page.eval_on_selector("#ticket_type", "select => select.add(new Option('X', 'x', true, true))")
    await expect(summary).to_be_empty()
    await page.click("#pay")
    await expect(page.locator("#event-error")).to_have_text("Event is not an event on sale.")
    assert len(posts) == 1
    assert page.url == f"{live.base_url}/"
    for name in ("event", "ticket_type", "quantity", "email", "first_name", "last_name", "phone"):
        await expect(page.locator(f"#{name}")).to_have_attribute("required", "")


def contrast(first: str, second: str) -> float:
    """WCAG contrast ratio of two CSS `rgb(...)` colours."""

    def luminance(colour: str) -> float:
        channels = [int(value) / 255 for value in re.findall(r"\d+", colour)[:3]]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    light, dark = sorted((luminance(first), luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


async def test_pay_stays_focused_and_readable_while_sending_and_a_push_limit_says_when(
    browser: Browser, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings("sqlite", "memory", sandbox_delay=SANDBOX_DELAY, push_limit_per_phone=1)
    async with run_server(settings) as live:
        page, _ = await phone_page(browser)
        await buy(page, live.base_url)  # the phone's one push in this window
        # Another buyer on the same phone: the same buyer again would be asked "Buy more?" first.
        await fill_checkout(page, live.base_url, Buyer(email="baraka@example.com", first_name="Baraka"))
        await expect(page.locator(".sandbox-banner")).to_contain_text("Sandbox")
        seen_busy: list[dict[str, object]] = []

        async def look_while_sending(route: Route) -> None:
            seen_busy.append(
                await page.evaluate(
                    """() => {
                        const pay = document.getElementById("pay");
                        return {
                            text: pay.textContent, busy: pay.getAttribute("aria-disabled"),
                            focused: document.activeElement === pay, opacity: getComputedStyle(pay).opacity,
                            said: document.getElementById("pay-status").textContent,
                        };
                    }"""
                )
            )
            await route.continue_()

        await page.route("**/api/orders", look_while_sending)
        await page.focus("#pay")
        await page.keyboard.press("Enter")
        error = page.locator("#form-error")
        await expect(error).to_contain_text("Too many M-PESA prompts were sent to this phone number")
        await expect(error).to_contain_text(re.compile(r"try again in (9|10) minutes \(at \d\d:\d\d\)"))
        await expect(error).to_be_focused()
        await expect(page.locator("#pay")).to_have_text("Pay KES 300 with M-PESA")
        await screenshot(page, "checkout-push-limit")
        await accessible(page, "checkout-push-limit")
    assert seen_busy == [
        {
            "text": "Sending the prompt to your phone…",
            "busy": "true",
            "focused": True,
            "opacity": "1",
            "said": "Sending the prompt to your phone…",
        }
    ]


async def test_at_200_percent_zoom_the_whole_phone_number_shows(
    browser: Browser, live: RunningServer
) -> None:
    # A 360 px phone at 200% zoom lays the page out 180 CSS px wide.
    context = await browser.new_context(viewport={"width": 180, "height": 390}, device_scale_factor=4)
    page = await context.new_page()
    await page.goto(f"{live.base_url}/")
    await page.fill("#phone", "712 345 678")
    fits = await page.eval_on_selector("#phone", "input => input.scrollWidth <= input.clientWidth")
    width = await page.eval_on_selector("#phone", "input => input.clientWidth")
    await context.close()
    assert fits and width >= 120, f"the field is {width} px wide"


async def test_unknown_order_says_so(browser: Browser, live: RunningServer) -> None:
    page, _ = await phone_page(browser)
    await page.goto(f"{live.base_url}/payment/{'x' * 24}")
    await title_is(page, "We cannot find this payment")
    await expect(page.get_by_role("link", name="Go to the checkout")).to_be_visible()


# --- When the prompt never arrives --------------------------------------------------------


def _has_route(path: str) -> bool:
    """Whether the app serves `path` (a probe for routes other branches bring)."""
    import importlib
    import pkgutil

    import server.routes

    for module in pkgutil.iter_modules(server.routes.__path__):
        listed = getattr(importlib.import_module(f"server.routes.{module.name}"), "routes", None)
        if isinstance(listed, list) and any(getattr(route, "path", None) == path for route in listed):
            return True
    return False


PUSH_ROUTE = _has_route("/api/orders/{order_id}/push")
waits_for_payments = pytest.mark.skipif(
    not PUSH_ROUTE, reason="waits for the payments branch: POST /api/orders/{id}/push and /cancel"
)
NO_ANSWER = "712349999"  # the sandbox customer who never answers


def posts_to(page: Page) -> list[str]:
    """Paths of the POSTs the page makes, from now on."""
    posted: list[str] = []
    page.on(
        "request",
        lambda request: posted.append(request.url.split("/", 3)[3]) if request.method == "POST" else None,
    )
    return posted


async def test_a_prompt_window_over_offers_send_again_and_cancel_on_long_polling(
    browser: Browser, live: RunningServer
) -> None:
    page, seen = await phone_page(browser, without_event_source=True)
    # The page's clock, not the test's patience: a minute passes in one call.
    await page.clock.install()
    await buy(page, live.base_url, Buyer(phone=NO_ANSWER))
    await title_is(page, "Check your phone")
    await expect(page.locator("#sent-to")).to_have_text("Sent to the M-PESA number ending in 999.")
    await expect(page.get_by_role("button", name="Send it again")).to_be_hidden()
    await accessible(page, "processing")

    await page.clock.fast_forward("01:01")
    await title_is(page, "Didn't get the prompt?")
    await expect(page.locator("#countdown")).to_be_hidden()
    await expect(page.locator("#message")).not_to_contain_text("Enter your M-PESA PIN")
    await expect(page.get_by_role("button", name="Send it again")).to_be_visible()
    await expect(page.get_by_role("button", name="Cancel the order")).to_be_visible()
    await expect(page.locator("#announce")).to_contain_text("Didn't get the prompt?")
    await expect(page.locator("#sent-to")).to_contain_text("ending in 999")
    await screenshot(page, "no-prompt")
    await accessible(page, "no-prompt")
    assert seen.requests_to("/wait"), "long polling carried on underneath"


@waits_for_payments
async def test_send_again_then_cancel_over_the_event_stream(
    browser: Browser, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings("sqlite", "memory", sandbox_delay=SANDBOX_DELAY, env={"PROMPT_WINDOW": "2"})
    async with run_server(settings) as live:
        page, seen = await phone_page(browser)
        order_id = await buy(page, live.base_url, Buyer(phone=NO_ANSWER))
        posted = posts_to(page)
        await title_is(page, "Didn't get the prompt?", timeout=10_000)
        await page.get_by_role("button", name="Send it again").click()
        await title_is(page, "We sent the prompt again")
        await expect(page.locator("#countdown")).to_contain_text("The prompt expires in")
        await expect(page.locator("#title")).to_be_focused()
        await screenshot(page, "prompt-sent-again")
        await accessible(page, "prompt-sent-again")
        document = await final_document(live, order_id)
        assert document["pushes"] == 2

        await title_is(page, "Didn't get the prompt?", timeout=10_000)
        await page.get_by_role("button", name="Cancel the order").click()
        await title_is(page, "Payment cancelled")
        assert (await final_document(live, order_id))["payment_status"] == "cancelled"
    assert posted == [f"api/orders/{order_id}/push", f"api/orders/{order_id}/cancel"]
    # One stream carried every change; before each "Didn't get the prompt?" one plain read
    # confirmed that the order was still unpaid (the stream's silence alone does not say so).
    assert seen.status_requests == [
        f"/api/orders/{order_id}/events",
        f"/api/orders/{order_id}",
        f"/api/orders/{order_id}",
    ], "one stream carried it all"


# --- Links that are no order ----------------------------------------------------------------


async def test_a_link_with_a_trailing_full_stop_still_finds_the_order(
    browser: Browser, live: RunningServer
) -> None:
    page, seen = await phone_page(browser)
    order_id = await buy(page, live.base_url, Buyer(phone=NO_ANSWER))
    await page.goto(f"{live.base_url}/payment/{order_id}.")
    assert page.url == f"{live.base_url}/payment/{order_id}"
    await title_is(page, "Check your phone")

    await page.goto(f"{live.base_url}/payment/not-an-order")
    await title_is(page, "We cannot find this payment")
    await expect(page.locator("#transport")).to_be_empty()
    await screenshot(page, "not-found")
    await accessible(page, "not-found")
    assert not any("not-an-order" in path for path in seen.status_requests), "nothing to ask about"


# --- The e-mails, as a mail app shows them ----------------------------------------------------


def as_mail_app_shows(message: EmailMessage) -> str:
    """The HTML part with its inline images in place, under the header a mail app shows."""
    body = parts(message)
    page = str(body["html"])
    for cid, png_bytes in body["images"].items():
        page = page.replace(f"cid:{cid}", "data:image/png;base64," + base64.b64encode(png_bytes).decode())
    header = (
        '<div style="font-family: Arial, sans-serif; border-bottom: 1px solid #d2d6dc; padding: 12px; '
        'background: #f3f5f7;"><div style="font-size: 18px; font-weight: bold;">'
        f"{html.escape(str(message['Subject']))}</div>"
        f'<div style="color: #5a6470;">{html.escape(str(message["From"]))} to me</div></div>'
    )
    return re.sub(r"(<body[^>]*>)", lambda match: match.group(1) + header, page, count=1)


async def test_the_e_mails_as_a_mail_app_shows_them(browser: Browser, live: RunningServer) -> None:
    async with local_client(live.base_url) as http:
        order = await place(http, "amina@example.com", quantity=2)
        document = await settled(http, order["order_id"])
    await eventually(lambda: all_sent(live.services.database))
    outbox = live.services.settings.data_dir / "outbox"
    messages = {
        path.name.rsplit("_", 1)[1].removesuffix(".eml"): BytesParser(policy=email.policy.default).parsebytes(
            path.read_bytes()
        )
        for path in outbox.glob("*.eml")
    }
    assert set(messages) == {"welcome", "tickets", "receipt"}
    page, _ = await phone_page(browser)
    for kind, message in messages.items():
        await page.set_content(as_mail_app_shows(message))  # type: ignore[arg-type]
        await screenshot(page, f"email-{kind}")
    # The tickets e-mail as drawn: both QRs shown, no sideways scrolling on a phone, and the
    # button leads to the ticket page.
    await page.set_content(as_mail_app_shows(messages["tickets"]))  # type: ignore[arg-type]
    images = page.locator("img")
    await expect(images).to_have_count(len(document["tickets"]))  # type: ignore[arg-type]
    for index in range(len(document["tickets"])):  # type: ignore[arg-type]
        assert await images.nth(index).evaluate("image => image.complete && image.naturalWidth > 0")
    assert await page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    link = page.get_by_role("link", name="Open your ticket page")
    assert (
        await link.get_attribute("href")
        == f"{live.services.settings.public_base_url}/payment/{order['order_id']}"
    )
