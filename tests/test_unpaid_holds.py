"""Nobody holds the sale hostage (issue 24): unpaid seats per phone, address (/64) and e-mail.

A real service on both stacks, PayHero our stand-in on a real port whose customers never
answer (no callback comes unless the test sends one), checkouts over real sockets.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import pytest

from server.settings import Settings, SettingsError
from tests.payhero_fixtures import ORDER
from tests.test_payment_lifecycle import CALLBACK, Shop, shop


def phone() -> str:
    return f"07{secrets.randbelow(10**8):08d}"


async def available(world: Shop) -> int:
    events = (await world.http.get("/api/events")).json()
    count: int = events[0]["ticket_types"][0]["available"]
    return count


async def place(
    world: Shop, headers: dict[str, str] | None = None, **changes: Any
) -> tuple[int, dict[str, Any]]:
    response = await world.http.post("/api/orders", json={**ORDER, **changes}, headers=headers)
    body: dict[str, Any] = response.json()
    if response.status_code == 429:
        assert int(response.headers["Retry-After"]) >= 1
    return response.status_code, body


async def test_one_phone_holds_its_share_and_gets_it_back_when_payhero_says_failed(
    stack_settings: Settings,
) -> None:
    async with shop(stack_settings, service={"max_unpaid_seats_per_phone": 3}) as world:
        number = phone()
        first = await world.checkout(phone=number, quantity=2)
        await world.checkout(phone=number, quantity=1)
        code, refused = await place(world, phone=number, quantity=1)
        assert code == 429 and refused["error"] == "too_many_unpaid_seats" and refused["limit"] == "phone"
        assert await available(world) == 500 - 3  # the refused checkout stored nothing
        assert (await place(world, phone=phone(), quantity=1))[0] == 201  # another phone is not held up
        # PayHero says the first prompt could not reach the phone: its seats come back at once.
        [push] = world.pushes_of(first)
        ended = await world.http.post(CALLBACK, json=world.fake.settle(push, "unreachable"))
        assert ended.json()["payment_status"] == "expired"
        assert (await place(world, phone=number, quantity=2))[0] == 201


async def test_one_address_counts_by_its_64_and_one_email_when_asked(stack_settings: Settings) -> None:
    caps = {"max_unpaid_seats_per_client": 2, "max_unpaid_seats_per_email": 1}
    async with shop(stack_settings, service=caps) as world:
        # Through the trusted proxy (loopback): the client is the forwarded address.
        one = {"X-Forwarded-For": "2001:db8:0:7::1"}
        same_64 = {"X-Forwarded-For": "2001:db8:0:7::beef"}
        other_64 = {"X-Forwarded-For": "2001:db8:0:8::1"}
        assert (await place(world, one, phone=phone(), email="a@example.com"))[0] == 201
        assert (await place(world, same_64, phone=phone(), email="b@example.com"))[0] == 201
        code, refused = await place(world, same_64, phone=phone(), email="c@example.com")
        assert code == 429 and refused["limit"] == "client"
        assert (await place(world, other_64, phone=phone(), email="d@example.com"))[0] == 201
        code, refused = await place(
            world, {"X-Forwarded-For": "198.51.100.9"}, phone=phone(), email="d@example.com"
        )
        assert code == 429 and refused["limit"] == "email"


async def test_concurrent_checkouts_of_one_phone_never_pass_the_cap(stack_settings: Settings) -> None:
    async with shop(stack_settings, service={"max_unpaid_seats_per_phone": 2}) as world:
        number = phone()
        codes = await asyncio.gather(*(place(world, phone=number, quantity=1) for _ in range(6)))
        assert sorted(code for code, _ in codes) == [201, 201, 429, 429, 429, 429]
        assert await available(world) == 500 - 2


def test_the_caps_are_settings_with_zero_for_off() -> None:
    settings = Settings.from_env({}, dotenv=None)
    assert (
        settings.max_unpaid_seats_per_phone,
        settings.max_unpaid_seats_per_client,
        settings.max_unpaid_seats_per_email,
    ) == (10, 40, 0)
    with pytest.raises(SettingsError, match="MAX_UNPAID_SEATS_PER_CLIENT"):
        Settings.from_env({"MAX_UNPAID_SEATS_PER_CLIENT": "-1"}, dotenv=None)
