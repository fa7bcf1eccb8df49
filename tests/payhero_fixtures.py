"""PayHero for the tests: our Starlette fake, served on a real port, and the live-mode settings."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from server.payhero.fake import FakePayHero, callback_body
from server.settings import Settings
from tests.server_harness import serve_app

# PayHero's documented callbacks (docs/PAYHERO.md), kept in the repo so every clone tests them.
SAMPLES = Path(__file__).resolve().parent / "payhero_samples"
TOKEN = "t" * 16 + "0123456789abcdef0123456789"


def sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SAMPLES / name).read_text())
    return data


@contextlib.asynccontextmanager
async def fake_payhero(**options: Any) -> AsyncIterator[tuple[FakePayHero, str]]:
    fake = FakePayHero("api-user", "api-secret", 4242, **options)
    try:
        async with serve_app(fake.app) as url:
            yield fake, url
    finally:
        await fake.aclose()


def live_settings(base: Settings, payhero_url: str, **overrides: Any) -> Settings:
    """Live mode against the fake: the callbacks are the test's to send."""
    return base.with_overrides(
        payhero_mode="live",
        payhero_base_url=payhero_url,
        payhero_username="api-user",
        payhero_password="api-secret",
        payhero_channel_id=4242,
        callback_token=TOKEN,
        # Live mode wants the key from outside, not made into DATA_DIR (issue 19).
        ticket_signing_key=base.ticket_signing_key or "live-ticket-signing-key-" + "k" * 16,
        **overrides,
    )


ORDER = {
    "event": "demo-fest",
    "ticket_type": "early-bird",
    "quantity": 1,
    "email": "amina@example.com",
    "first_name": "Amina",
    "last_name": "Otieno",
    "phone": "0712345678",
    # One buyer places many orders here on purpose: the "already bought" question
    # (tests/test_sales.py) is answered yes.
    "confirm_repeat": True,
}


def sandbox_callback(order: dict[str, Any], result: str = "success") -> dict[str, Any]:
    """The callback PayHero would send for a sandbox checkout's answer (`order`: its 201 body)."""
    return callback_body(
        result=result,
        external_reference=order["order_number"],
        checkout_request_id=f"ws_CO_SANDBOX_{order['order_number']}",
        amount=order["amount"],
        phone="254712349999",
    )
