"""The browser fixtures the page tests share.

One browser per test worker (`browser`, Chromium's headless shell, made known to every module
by tests/conftest.py): starting Playwright's driver and Chromium costs about 0.9 s of CPU,
and a module's tests are spread over every worker, so one per module started about 30 a run.
A test module that uses it runs on the session's event loop (`pytestmark =
pytest.mark.asyncio(loop_scope="session")`, its async fixtures likewise) and imports
`close_pages`, so that each test's pages close with it and none keeps polling a service
that has stopped. `full_chromium` is the full browser (tests/browser.py says which tests
run in it), started by the first test of a worker that asks for it, its pages closed with
each test that does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from playwright.async_api import Browser

from tests.browser import CHROMIUM, HEADLESS_SHELL, check_chromium, close_contexts, launch


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    check_chromium(HEADLESS_SHELL)
    async with launch(HEADLESS_SHELL) as running:
        yield running


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def _full_chromium_running() -> AsyncIterator[Browser]:
    check_chromium(CHROMIUM)
    async with launch(CHROMIUM) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="session")
async def full_chromium(_full_chromium_running: Browser) -> AsyncIterator[Browser]:
    yield _full_chromium_running
    await close_contexts(_full_chromium_running)


@pytest_asyncio.fixture(autouse=True, loop_scope="session")
async def close_pages(browser: Browser) -> AsyncIterator[None]:
    """Each test's pages close with it: none keeps polling a service that has stopped."""
    yield
    await close_contexts(browser)
