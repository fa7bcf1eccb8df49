"""The PayHero client against our fake PayHero: shapes, auth, and errors at the boundary."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from server.payhero.client import (
    OutcomeUnknown,
    PayHeroClient,
    ProviderRefused,
    ProviderUnavailable,
    build_http_client,
)
from server.payhero.fake import FakePayHero
from tests.backends import free_port
from tests.payhero_fixtures import fake_payhero

PUSH = {
    "amount": 300,
    "phone_number": "254712345678",
    "external_reference": "ORD-ABC123",
    "customer_name": "Amina Otieno",
    "callback_url": "https://example.test/api/payhero/callback/secret",
}


def client_for(fake: FakePayHero, *, password: str = "api-secret", timeout: float = 5.0) -> PayHeroClient:
    transport = httpx.ASGITransport(app=fake.app)
    http = build_http_client(
        base_url="http://payhero.test",
        username="api-user",
        password=password,
        timeout=timeout,
        transport=transport,
    )
    return PayHeroClient(http, channel_id=4242)


@pytest.fixture
async def fake() -> AsyncIterator[FakePayHero]:
    payhero = FakePayHero("api-user", "api-secret", 4242, sandbox_names=False)
    yield payhero
    await payhero.aclose()


async def test_an_accepted_push_returns_payhero_references(fake: FakePayHero) -> None:
    client = client_for(fake)
    accepted = await client.initiate_stk_push(**PUSH)
    assert accepted.checkout_request_id.startswith("ws_CO_")
    assert fake.requests == [{**PUSH, "channel_id": 4242, "provider": "m-pesa"}]
    status = await client.transaction_status(accepted.reference)
    assert status.status == "QUEUED" and not status.succeeded


async def test_wrong_credentials_are_a_refusal(fake: FakePayHero) -> None:
    with pytest.raises(ProviderRefused, match="credentials"):
        await client_for(fake, password="wrong").initiate_stk_push(**PUSH)


async def test_a_refusal_carries_payheros_reason_and_is_not_retried(fake: FakePayHero) -> None:
    fake.refuse_with = (400, "Insufficient float balance")
    with pytest.raises(ProviderRefused, match="Insufficient float balance"):
        await client_for(fake).initiate_stk_push(**PUSH)
    assert len(fake.requests) == 1  # a retried push could charge twice


async def test_a_server_error_leaves_the_outcome_unknown(fake: FakePayHero) -> None:
    fake.refuse_with = (503, "maintenance")
    with pytest.raises(OutcomeUnknown):
        await client_for(fake).initiate_stk_push(**PUSH)


async def test_a_stalled_payhero_times_out() -> None:
    # Served on a real port: timeouts are a property of real sockets, not of ASGI transport.
    async with fake_payhero(stall_seconds=2) as (_, url):
        http = build_http_client(base_url=url, username="api-user", password="api-secret", timeout=0.3)
        # Sent, but no answer: PayHero may have queued the prompt, so this is no refusal.
        with pytest.raises(OutcomeUnknown, match="in time"):
            await PayHeroClient(http, channel_id=4242).initiate_stk_push(**PUSH)
        await http.aclose()


async def test_an_unreachable_payhero_is_unavailability() -> None:
    http = build_http_client(
        base_url=f"http://127.0.0.1:{free_port()}", username="u", password="p", timeout=2
    )
    with pytest.raises(ProviderUnavailable, match="reached") as raised:
        await PayHeroClient(http, channel_id=1).initiate_stk_push(**PUSH)
    assert not isinstance(raised.value, OutcomeUnknown)  # never sent: a definite failure
    await http.aclose()


async def test_transaction_status_reports_a_settled_payment(fake: FakePayHero) -> None:
    client = client_for(fake)
    accepted = await client.initiate_stk_push(**PUSH)
    fake.settle(fake.pushes[accepted.reference], "success")
    status = await client.transaction_status(accepted.reference)
    assert status.succeeded and status.receipt_number == fake.pushes[accepted.reference].receipt


async def test_the_sandbox_keeps_pushes_and_request_bodies_bounded() -> None:
    """The sandbox lives inside a service that may run for months: a push carries a phone
    number, a request body a name too. Pushes expire and are capped; bodies are capped."""
    now = [1000.0]
    fake = FakePayHero(
        "api-user", "api-secret", 4242, push_ttl=60.0, keep_pushes=3, keep_requests=2, clock=lambda: now[0]
    )
    try:
        client = client_for(fake)
        references = []
        for n in range(5):
            accepted = await client.initiate_stk_push(**{**PUSH, "external_reference": f"ORD-{n}"})
            references.append(accepted.reference)
        assert list(fake.pushes) == references[2:]  # the three newest
        assert [r["external_reference"] for r in fake.requests] == ["ORD-3", "ORD-4"]
        # The expiry check can still ask about a recent push...
        assert (await client.transaction_status(references[-1])).status == "QUEUED"
        now[0] += 61
        await client.initiate_stk_push(**{**PUSH, "external_reference": "ORD-5"})
        # ...but a minute later the old ones are gone, and only the new one is kept.
        assert len(fake.pushes) == 1
    finally:
        await fake.aclose()


async def test_the_sandbox_names_a_push_sent_again_by_how_many_it_keeps_for_the_order() -> None:
    """The documented names for an order's first push, `-2`, `-3` for the ones sent again;
    another order's pushes do not count, and a forgotten push no longer does."""
    now = [1000.0]
    fake = FakePayHero("api-user", "api-secret", 4242, push_ttl=60.0, clock=lambda: now[0])
    try:
        client = client_for(fake)

        async def push(order: str) -> str:
            return (await client.initiate_stk_push(**{**PUSH, "external_reference": order})).reference

        assert [await push("ORD-A"), await push("ORD-B"), await push("ORD-A"), await push("ORD-A")] == [
            "SANDBOX-ORD-A",
            "SANDBOX-ORD-B",
            "SANDBOX-ORD-A-2",
            "SANDBOX-ORD-A-3",
        ]
        now[0] += 61  # all of them forgotten
        assert await push("ORD-A") == "SANDBOX-ORD-A"
    finally:
        await fake.aclose()
