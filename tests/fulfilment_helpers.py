"""Helpers for the fulfilment tests: orders through the real checkout, the outbox, QRs."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from typing import Any

import httpx
import png
import sqlalchemy as sa
import zxingcpp

from server.lifecycle import COMPLETED, TERMINAL
from server.orders.validation import CheckoutRequest
from server.services import Services
from server.settings import Settings
from server.status.document import StatusUpdate
from server.store import Database
from server.store.tables import outbox
from server.transitions.change import Change
from tests.payhero_fixtures import ORDER

# The sandbox customer who never answers: the test sends the callbacks itself.
SILENT_PHONE = "0712349999"


def checkout_body(email: str, *, phone: str = "0712345678", quantity: int = 2) -> dict[str, Any]:
    # Returning customers buy again on purpose here: the "already bought" question
    # (tests/test_sales.py) is answered yes.
    return {**ORDER, "quantity": quantity, "email": email, "phone": phone, "confirm_repeat": True}


async def place(client: httpx.AsyncClient, email: str, **options: Any) -> dict[str, Any]:
    response = await client.post("/api/orders", json=checkout_body(email, **options))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def settled(client: httpx.AsyncClient, order_id: str, timeout: float = 20.0) -> dict[str, Any]:
    """Hold `/wait` (the way a browser does) until the order reaches a terminal status."""
    async with asyncio.timeout(timeout):
        version = 0
        while True:
            response = await client.get(f"/api/orders/{order_id}/wait", params={"since": version})
            document: dict[str, Any] = response.json()
            if document["payment_status"] in TERMINAL:
                return document
            version = document["version"]


async def paid_order(services: Services, email: str, *, quantity: int = 1) -> StatusUpdate:
    """An order placed through the real checkout, then paid, without a web server."""
    request = CheckoutRequest("demo-fest", "early-bird", quantity, email, "Amina", "Otieno", "254712349999")
    order = (await services.checkout.place(request)).update
    # A receipt of its own: one receipt completes one order (issue 24).
    receipt = "SAE" + order.order_id[:7].upper().replace("-", "X").replace("_", "Y")
    change = Change(COMPLETED, source="test", fields={"result_code": 0, "receipt_number": receipt})
    result = await services.changes.apply(order.order_id, change)
    return result.update


async def outbox_rows(database: Database, order_id: str | None = None) -> list[dict[str, Any]]:
    query = sa.select(outbox).order_by(outbox.c.id)
    if order_id is not None:
        query = query.where(outbox.c.order_id == order_id)
    return [dict(row) for row in await database.fetch_all(query)]


async def eventually(check: Callable[[], Awaitable[bool]], *, timeout: float = 15.0) -> None:
    """Wait for a condition in the store that the code under test makes true: the store
    is shared with other processes, so there is no in-process event to await instead."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.02)


async def all_sent(database: Database) -> bool:
    return all(row["sent_ms"] is not None for row in await outbox_rows(database))


def decode_qr(data: bytes) -> list[str]:
    """What a scanner reads in a PNG: decoded by ZXing, independently of how it was drawn."""
    width, height, rows, info = png.Reader(bytes=data).asDirect()
    if info["planes"] != 1:
        raise AssertionError(f"expected a greyscale QR, got {info}")
    top = (1 << info["bitdepth"]) - 1
    pixels = bytes(value * 255 // top for row in rows for value in row)
    image = memoryview(pixels).cast("B", shape=(height, width))
    return [barcode.text for barcode in zxingcpp.read_barcodes(image)]


def parts(message: EmailMessage) -> dict[str, Any]:
    """The text, the HTML, and the inline images (by Content-ID) of an e-mail."""
    text = message.get_body(preferencelist=("plain",))
    page = message.get_body(preferencelist=("html",))
    images = {
        str(part["Content-ID"]).strip("<>"): part.get_content()
        for part in message.walk()
        if part.get_content_type() == "image/png"
    }
    assert text is not None and page is not None
    return {"text": text.get_content(), "html": page.get_content(), "images": images}


async def run_cli(settings: Settings, *args: str, extra_env: dict[str, str] | None = None) -> tuple[int, str]:
    """`python -m server ...` in a process of its own, configured like the service."""
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "DATA_DIR": str(settings.data_dir),
        "LOG_LEVEL": "WARNING",
    }
    for name in ("TICKET_SIGNING_KEY", "SMTP_URL", "REDIS_URL"):
        env.pop(name, None)  # what the command needs must come from DATA_DIR and the store
    env.update(extra_env or {})
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server",
        *args,
        env=env,
        # Not the repo: a developer's `.env` or ./data must not leak into the test.
        cwd=settings.data_dir,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, output.decode()
