"""A customer whose push PayHero answered too late still lands on the status page and is paid.

The checkout answers 202 then (issue 11): the prompt may be on the phone. The page must
treat it as it treats 201, or the customer sees an error while M-PESA takes the money.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.async_api import Browser

from server.settings import Settings
from tests import browser_fixtures
from tests.browser import buy, phone_page, title_is
from tests.payhero_fixtures import fake_payhero, live_settings
from tests.server_harness import run_server

pytestmark = pytest.mark.asyncio(loop_scope="session")

# The worker's one browser (tests/browser_fixtures.py); each test's pages close with it.
close_pages = browser_fixtures.close_pages


async def test_a_late_push_answer_still_takes_the_customer_to_their_payment(
    browser: Browser, make_settings: Callable[..., Settings]
) -> None:
    async with fake_payhero(stall_seconds=1.5, answer_delay=1.0) as (fake, url):
        settings = live_settings(make_settings("sqlite", "memory"), url, payhero_timeout=0.5)
        async with run_server(settings) as live:
            page, _ = await phone_page(browser)
            order_id = await buy(page, live.base_url)
            await title_is(page, "Payment received")
            document = await live.services.reader.get(order_id)
            assert document is not None and document.payment_status == "completed"
            assert document.document["pushes"] == 1 and len(fake.pushes) == 1
