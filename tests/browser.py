"""Headless Debian Chromium driven by Playwright, at phone size, with what the page did recorded.

Never `playwright install`: the browsers are Debian's (`.ci/run` installs them), and the
background-networking flags keep them from dialling out of this closed network.

Two builds of the same Chromium release, from Debian's `chromium` source package:
- `HEADLESS_SHELL`, `chromium-headless-shell`: Blink and V8 without the browser's window,
  profile and services, what Playwright itself runs for headless tests. The page tests run
  in it: the same 52 tests took 103 core-s of the machine in it and 182 in the full browser
  (docs/BENCHMARKS.md, "The browser tests in Chromium's headless shell").
- `CHROMIUM`, `/usr/bin/chromium`, the browser a person runs: the camera tests and one whole
  checkout-to-paid journey per stack run in it, so that a difference between the two builds
  that matters to the pages shows.
"""

from __future__ import annotations

import io
import os
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import zxingcpp
from axe_playwright_python.async_playwright import DEFAULT_OPTIONS, Axe
from PIL import Image
from playwright.async_api import Browser, ConsoleMessage, Locator, Page, Request, async_playwright, expect

from tests.backends import missing

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
HEADLESS_SHELL = os.environ.get("CHROMIUM_HEADLESS_SHELL_PATH", "/usr/bin/chromium-headless-shell")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# A common Android phone: the pages must work 360 px wide.
PHONE = {
    "viewport": {"width": 360, "height": 780},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    # As a phone set to reduce motion: the waiting badge's pulse repaints every frame, 0.08 s
    # of the browser's CPU per second a page waits (measured), for nothing a test looks at.
    "reduced_motion": "reduce",
}
# A desktop window: every page state is also checked for accessibility at this width.
DESKTOP_WIDTH = 1280
# axe-core, bundled by axe-playwright-python: no download, no CDN.
AXE = Axe()

# `make screenshots` points this at docs/screenshots. Unset, no picture is taken: a full-page
# PNG at twice the phone's pixels is ~0.1 s of the browser's CPU and ~0.5 s of the test's wall
# time, 55 times a run, and the pictures only matter where someone looks at them.
SCREENSHOT_DIR = Path(os.environ["SCREENSHOT_DIR"]) if os.environ.get("SCREENSHOT_DIR") else None

# The routes that tell a page about its order (not the checkout's POST, not QR images).
STATUS_PATH = re.compile(r"^/api/orders/[^/]+(?:/wait|/events)?$")


def check_chromium(path: str = CHROMIUM) -> None:
    if not Path(path).exists():
        package = "chromium-headless-shell" if path == HEADLESS_SHELL else "chromium"
        missing("Chromium", f"no browser at {path}; .ci/run installs Debian's {package}")


@asynccontextmanager
async def launch(path: str) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=path, args=LAUNCH_ARGS, headless=True)
        try:
            yield browser
        finally:
            await browser.close()


@dataclass
class Recorder:
    """What the page said on its console and which status requests it made, in order."""

    console: list[tuple[float, str]] = field(default_factory=list)
    status_requests: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        self.console.append((time.monotonic(), message.text))

    def on_request(self, request: Request) -> None:
        url = urlsplit(request.url)
        if request.method == "GET" and STATUS_PATH.match(url.path):
            self.status_requests.append(url.path + (f"?{url.query}" if url.query else ""))

    def logged(self, text: str) -> list[float]:
        """When each console line containing `text` was printed."""
        return [at for at, line in self.console if text in line]

    def requests_to(self, suffix: str) -> list[str]:
        return [path for path in self.status_requests if path.split("?")[0].endswith(suffix)]


async def phone_page(browser: Browser, *, without_event_source: bool = False) -> tuple[Page, Recorder]:
    context = await browser.new_context(**PHONE)  # type: ignore[arg-type]
    page = await context.new_page()
    if without_event_source:
        await page.add_init_script("delete window.EventSource")
    recorder = Recorder()
    page.on("console", recorder.on_console)
    page.on("request", recorder.on_request)
    return page, recorder


@dataclass(frozen=True)
class Buyer:
    email: str = "amina@example.com"
    first_name: str = "Amina"
    last_name: str = "Otieno"
    phone: str = "712345678"  # typed after the +254 prefix; the last 4 digits pick the sandbox outcome
    ticket_type: str = "early-bird"
    quantity: int = 1


async def fill_checkout(page: Page, base_url: str, buyer: Buyer) -> None:
    await page.goto(f"{base_url}/")
    await expect(page.locator("#checkout")).to_be_visible()
    await page.select_option("#ticket_type", buyer.ticket_type)
    await page.fill("#quantity", str(buyer.quantity))
    await page.fill("#email", buyer.email)
    await page.fill("#first_name", buyer.first_name)
    await page.fill("#last_name", buyer.last_name)
    await page.fill("#phone", buyer.phone)


async def buy(page: Page, base_url: str, buyer: Buyer | None = None) -> str:
    """Check out as `buyer`; returns the order id from the status page's URL."""
    await fill_checkout(page, base_url, buyer or Buyer())
    await page.click("#pay")
    await page.wait_for_url(re.compile(r"/payment/[A-Za-z0-9_-]+$"))
    return page.url.rsplit("/", 1)[1]


async def title_is(page: Page, text: str, timeout: float = 20_000) -> None:
    await expect(page.locator("#title")).to_have_text(text, timeout=timeout)


async def screenshot(page: Page, name: str) -> None:
    """Save the page as it is now for the README and docs/PAGES.md, when `make screenshots` asks."""
    if SCREENSHOT_DIR is None:
        return
    # Playwright makes the folder. Animations off: the picture shows the state, not a frame of the pulse.
    await page.screenshot(path=SCREENSHOT_DIR / f"{name}.png", full_page=True, animations="disabled")


async def close_contexts(browser: Browser) -> None:
    """Close every page the browser has open, so none keeps polling a service that stops."""
    for context in browser.contexts:
        await context.close()


async def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's violations in the page as it is now. The library's `Axe.run` sends the whole
    of axe-core (0.5 MB) through the driver into the page on every run; here it goes in once
    per document (10 checks of a page: 1.8 s instead of 3.4 s, the browser's CPU 4.3 s
    instead of 6.0 s, measured)."""
    if not await page.evaluate("() => typeof window.axe?.run === 'function'"):
        await page.evaluate(AXE.axe_script)
    violations: list[dict[str, Any]] = await page.evaluate(
        "options => axe.run(document, options).then((results) => results.violations)", DEFAULT_OPTIONS
    )
    return violations


async def accessible(page: Page, state: str) -> None:
    """axe-core finds no violation in the page as it is now, at 360 px and at 1280 px."""
    original = page.viewport_size or PHONE["viewport"]
    found: list[str] = []
    for width in (360, DESKTOP_WIDTH):
        await page.set_viewport_size({"width": width, "height": original["height"]})
        found += [
            f"{width}px {violation['id']}: {violation['help']} at "
            + ", ".join(str(node["target"]) for node in violation["nodes"])
            for violation in await axe_violations(page)
        ]
    await page.set_viewport_size(original)
    assert not found, f"axe-core in state {state!r}:\n" + "\n".join(found)


def save_picture(name: str, content: bytes) -> None:
    """Save an image the service made (a ticket card) beside the screenshots, when they are asked for."""
    if SCREENSHOT_DIR is not None:
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        (SCREENSHOT_DIR / name).write_bytes(content)


async def scan(element: Locator) -> list[str]:
    """What a scanner reads in `element` as the browser drew it (ZXing, on a grey screenshot)."""
    # Pillow makes it grey in C: the pure-Python loop it replaces took 0.25 s per QR.
    grey = Image.open(io.BytesIO(await element.screenshot())).convert("L")
    return [code.text for code in zxingcpp.read_barcodes(grey)]
