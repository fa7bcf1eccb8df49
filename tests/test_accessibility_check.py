"""The pages' accessibility check itself: it finds a violation, at both widths, in a document
it has already looked at (axe-core is injected once per document, tests/browser.py)."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser

from tests import browser_fixtures
from tests.browser import accessible, phone_page

pytestmark = pytest.mark.asyncio(loop_scope="session")

# Each test's pages close with it (tests/browser_fixtures.py).
close_pages = browser_fixtures.close_pages

CLEAN = '<html lang="en"><head><title>Probe</title></head><body><main><h1>Probe</h1></main></body></html>'


async def test_a_violation_is_found_after_a_clean_look_at_the_same_document(browser: Browser) -> None:
    page, _ = await phone_page(browser)
    await page.set_content(CLEAN)
    await accessible(page, "clean")
    # The same document, changed: an image with no text alternative.
    await page.evaluate("document.querySelector('main').append(document.createElement('img'))")
    with pytest.raises(AssertionError) as failed:
        await accessible(page, "image without alt")
    assert "360px image-alt" in str(failed.value) and "1280px image-alt" in str(failed.value)
