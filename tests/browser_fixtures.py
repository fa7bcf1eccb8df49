"""The browser fixtures the page tests share: import them into a test module to use them.

One browser per module (the tests share its event loop); each test's pages close with it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from playwright.async_api import Browser

from tests.browser import check_chromium, launch


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    check_chromium()
    async with launch() as running:
        yield running


@pytest_asyncio.fixture(autouse=True, loop_scope="module")
async def close_pages(browser: Browser) -> AsyncIterator[None]:
    """Each test's pages close with it: none keeps polling a service that has stopped."""
    yield
    for context in browser.contexts:
        await context.close()
