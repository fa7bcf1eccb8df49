"""Building the one PayHero client of the process: the real API, or the sandbox behind it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx

from server.payhero.client import PayHeroClient, build_http_client
from server.payhero.fake import FakePayHero
from server.settings import Settings

SANDBOX_CREDENTIALS = ("sandbox", "sandbox")
SANDBOX_CHANNEL = 1


@contextlib.asynccontextmanager
async def open_payhero(settings: Settings) -> AsyncIterator[tuple[PayHeroClient, FakePayHero | None]]:
    """The client (and the sandbox, if any) for the lifespan; closed on the way out."""
    fake: FakePayHero | None = None
    if settings.sandbox:
        username, password = SANDBOX_CREDENTIALS
        channel = SANDBOX_CHANNEL
        fake = FakePayHero(
            username,
            password,
            channel,
            answer_delay=settings.sandbox_delay,
            callback_shape=settings.payhero_callback_shape,
            # Past the expiry check's question about it, with room to spare.
            push_ttl=max(3600.0, 2 * settings.payment_expiry),
        )
        # The real client code runs in the sandbox too; only the transport is in-process.
        transport: httpx.AsyncBaseTransport | None = httpx.ASGITransport(app=fake.app)
        base_url = "http://payhero.sandbox"
    else:
        assert settings.payhero_username and settings.payhero_password and settings.payhero_channel_id
        username, password = settings.payhero_username, settings.payhero_password
        channel = settings.payhero_channel_id
        transport = None
        base_url = settings.payhero_base_url
    http = build_http_client(
        base_url=base_url,
        username=username,
        password=password,
        timeout=settings.payhero_timeout,
        max_connections=settings.payhero_max_connections,
        pool_timeout=settings.payhero_pool_timeout,
        transport=transport,
    )
    try:
        yield PayHeroClient(http, channel_id=channel), fake
    finally:
        if fake is not None:
            await fake.aclose()
        await http.aclose()
