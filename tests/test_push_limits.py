"""STK push limits: per phone number and per client address, over time, across processes.

Phone numbers and client addresses are random per test: on Redis the counts outlive a test
(and a test run), and every test client connects from 127.0.0.1. The address a limit sees
is set with X-Forwarded-For, which the service trusts from loopback and private peers by
default (server/ops/forwarded.py), exactly as from an nginx or a platform router in front.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.crc import key_slot

from server.abuse.rate_windows import MemoryWindows, Quota, Refused, Taken, Windows
from server.abuse.redis_windows import RedisWindows
from server.broker.redis_health import RedisHealth
from server.orders.push_limits import PushLimits
from server.settings import Settings
from tests.backends import free_port
from tests.local_http import local_client
from tests.ops_helpers import checkout_body, served, snapshot
from tests.server_harness import RunningServer, run_server


def random_phone() -> str:
    return "07" + "".join(random.choice("0123456789") for _ in range(8)).replace("9999", "1234")


def random_address() -> str:
    return (
        f"198.51.100.{random.randint(1, 254)}"
        if random.random() < 0.5
        # A /64 of its own: IPv6 clients count by their /64.
        else f"2001:db8:{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}::1"
    )


# -- the windows, on their own ---------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_memory_window_slides_instead_of_resetting() -> None:
    clock = Clock()
    windows = MemoryWindows(clock)
    quota = Quota("phone", "k", limit=3, window=600)
    for step in (0, 100, 200):
        clock.now = 1000 + step
        assert isinstance(await windows.take([quota]), Taken)
    clock.now = 1000 + 599
    refused = await windows.take([quota])
    assert isinstance(refused, Refused) and refused.quota is quota and refused.retry_after == pytest.approx(1)
    # The first push leaves the window: exactly one more fits, not a fresh three.
    clock.now = 1000 + 600
    assert isinstance(await windows.take([quota]), Taken)
    refused = await windows.take([quota])
    assert isinstance(refused, Refused) and refused.retry_after == pytest.approx(100)


@pytest.fixture(
    params=["memory", "redis", pytest.param("cluster", marks=pytest.mark.xdist_group("redis-cluster"))]
)
async def windows(request: pytest.FixtureRequest) -> AsyncIterator[Windows]:
    if request.param == "memory":
        yield MemoryWindows()
        return
    if request.param == "cluster":
        shared = RedisWindows(request.getfixturevalue("redis_cluster").url, cluster=True)
    else:
        shared = RedisWindows(request.getfixturevalue("redis_url"))
    yield shared
    await shared.aclose()


def quotas(phone_limit: int = 2, ip_limit: int = 3) -> list[Quota]:
    # One hash tag for both keys, as the real ones have: a cluster runs the take's script
    # only on keys of one slot.
    tag = "{" + uuid.uuid4().hex + "}"
    return [
        Quota("ip", f"test:{tag}:ip", ip_limit, 60),
        Quota("phone", f"test:{tag}:phone", phone_limit, 60),
    ]


def test_a_pushs_keys_hash_to_one_cluster_slot() -> None:
    limits = PushLimits(MemoryWindows(), per_phone=3, per_ip=20, window=600)
    keys = [quota.key for quota in limits.quotas("254712345678", "203.0.113.9")]
    assert len(keys) == 2 and len({key_slot(key.encode()) for key in keys}) == 1


async def test_a_take_is_all_or_nothing(windows: Windows) -> None:
    ip, phone = quotas(phone_limit=1, ip_limit=5)
    assert isinstance(await windows.take([ip, phone]), Taken)
    refused = await windows.take([ip, phone])
    assert isinstance(refused, Refused) and refused.quota.name == "phone"
    assert 59 < refused.retry_after <= 60
    # The refused take did not use up the address's allowance: four more fit on it.
    for _ in range(4):
        assert isinstance(await windows.take([ip]), Taken)
    assert isinstance(await windows.take([ip]), Refused)


async def test_a_given_back_take_frees_its_place(windows: Windows) -> None:
    ip, phone = quotas(phone_limit=1)
    taken = await windows.take([ip, phone])
    assert isinstance(taken, Taken)
    await windows.give_back(taken)
    assert isinstance(await windows.take([ip, phone]), Taken)


async def test_redis_windows_are_shared_between_processes(redis_url: str) -> None:
    first, second = RedisWindows(redis_url), RedisWindows(redis_url)
    try:
        _, phone = quotas(phone_limit=3)
        for windows in (first, second, first):
            assert isinstance(await windows.take([phone]), Taken)
        assert isinstance(await second.take([phone]), Refused)
    finally:
        await first.aclose()
        await second.aclose()


@pytest.mark.parametrize("cluster", [False, True], ids=["redis", "cluster"])
async def test_without_redis_limits_still_hold_in_the_process(cluster: bool) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    windows = RedisWindows(url, health=RedisHealth(timeout=0.5), cluster=cluster)
    # A cluster's client raises its own kind of error when it finds no node: counted too.
    await windows.start()
    try:
        _, phone = quotas(phone_limit=2)
        results = [await windows.take([phone]) for _ in range(3)]
        assert [type(r) for r in results] == [Taken, Taken, Refused]
        assert windows.fallbacks == 1  # one failed attempt, then memory until the retry time
        taken = results[0]
        assert isinstance(taken, Taken) and taken.local
        await windows.give_back(taken)
        assert isinstance(await windows.take([phone]), Taken)
    finally:
        await windows.aclose()


# -- over HTTP -------------------------------------------------------------------------------


@pytest.fixture
def limited(stack_settings: Settings) -> Callable[..., Settings]:
    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {"push_limit_per_phone": 3, "push_limit_per_ip": 20, "sandbox_delay": 30.0}
        values.update(overrides)
        return stack_settings.with_overrides(**values)

    return build


async def post_order(
    http: httpx.AsyncClient, phone: str, address: str | None = None, **fields: Any
) -> httpx.Response:
    headers = {"X-Forwarded-For": address} if address else {}
    return await http.post("/api/orders", json=checkout_body(phone=phone, **fields), headers=headers)


def assert_limited(response: httpx.Response, limit: str) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"].startswith("application/json")
    retry_after = int(response.headers["retry-after"])
    body = response.json()
    assert body["error"] == "too_many_requests" and body["limit"] == limit
    assert body["retry_after"] == retry_after and 0 < retry_after <= 600


@pytest.fixture
async def app(
    limited: Callable[..., Settings],
) -> AsyncIterator[tuple[RunningServer, httpx.AsyncClient]]:
    async with served(limited()) as pair:
        yield pair


async def test_a_phone_gets_three_pushes_then_a_429_that_stores_nothing(
    app: tuple[RunningServer, httpx.AsyncClient],
) -> None:
    live, client = app
    phone = random_phone()
    for _ in range(3):
        # From different addresses: the phone's own limit is what stops the fourth.
        assert (await post_order(client, phone, random_address())).status_code == 201
    before = await snapshot(live.services.database)
    refused = await post_order(client, phone, random_address())
    assert_limited(refused, "phone")
    assert await snapshot(live.services.database) == before
    # Other spellings of the same number are the same number.
    plus = "+254" + phone[1:]
    assert_limited(await post_order(client, plus, random_address()), "phone")
    assert (await post_order(client, random_phone(), random_address())).status_code == 201


async def test_validation_errors_do_not_count_against_the_phone(
    app: tuple[RunningServer, httpx.AsyncClient],
) -> None:
    _, client = app
    phone, address = random_phone(), random_address()
    for _ in range(5):
        response = await post_order(client, phone, address, email="not-an-email")
        assert response.status_code == 422
    for _ in range(3):
        assert (await post_order(client, phone, address)).status_code == 201


async def test_one_address_gets_its_limit_across_phones(limited: Callable[..., Settings]) -> None:
    async with served(limited(push_limit_per_ip=2)) as (_, http):
        address = random_address()
        for _ in range(2):
            assert (await post_order(http, random_phone(), address)).status_code == 201
        assert_limited(await post_order(http, random_phone(), address), "ip")
        assert (await post_order(http, random_phone(), random_address())).status_code == 201


async def test_zero_turns_both_limits_off(limited: Callable[..., Settings]) -> None:
    async with served(limited(push_limit_per_phone=0, push_limit_per_ip=0)) as (_, http):
        phone, address = random_phone(), random_address()
        for _ in range(6):
            assert (await post_order(http, phone, address)).status_code == 201


async def test_a_checkout_that_sends_no_push_gives_its_place_back(
    limited: Callable[..., Settings], tmp_path: Path
) -> None:
    catalogue = tmp_path / "catalogue.json"
    types = [
        {"slug": "last-seat", "name": "Last seat", "price": 300, "currency": "KES", "capacity": 1},
        {"slug": "regular", "name": "Regular", "price": 500, "currency": "KES", "capacity": 100},
    ]
    event = {
        "slug": "demo-fest",
        "name": "Demo",
        "starts_at": "2099-12-12T16:00:00+03:00",
        "ticket_types": types,
    }
    catalogue.write_text(json.dumps({"events": [event]}))
    settings = limited(push_limit_per_phone=2, catalogue_file=catalogue)
    async with served(settings) as (_, http):
        phone, address = random_phone(), random_address()
        assert (await post_order(http, phone, address, ticket_type="last-seat")).status_code == 201
        sold_out = await post_order(http, phone, address, ticket_type="last-seat")
        assert sold_out.status_code == 422 and "quantity" in sold_out.json()["fields"]
        assert (await post_order(http, phone, address, ticket_type="regular")).status_code == 201
        assert_limited(await post_order(http, phone, address, ticket_type="regular"), "phone")


async def test_limits_hold_across_processes_through_redis(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings("postgres", "redis").with_overrides(push_limit_per_phone=3, sandbox_delay=30.0)
    phone = random_phone()
    async with (
        run_server(settings) as first,
        run_server(settings) as second,
        local_client(first.base_url, timeout=20) as one,
        local_client(second.base_url, timeout=20) as two,
    ):
        for http in (one, two, one):
            assert (await post_order(http, phone, random_address())).status_code == 201
        assert_limited(await post_order(two, phone, random_address()), "phone")


async def test_x_forwarded_for_from_an_untrusted_peer_is_ignored_and_said_once(
    make_settings: Callable[..., Settings], capsys: pytest.CaptureFixture[str]
) -> None:
    # FORWARDED_ALLOW_IPS overrides the default: 127.0.0.1 (the test client) is not listed.
    settings = make_settings("sqlite", "memory").with_overrides(
        push_limit_per_ip=2, sandbox_delay=30.0, forwarded_allow_ips=("192.0.2.10",)
    )
    async with served(settings) as (_, http):
        assert (await http.get("/readyz")).json()["untrusted_forwarded"] == 0
        for _ in range(2):
            assert (await post_order(http, random_phone(), random_address())).status_code == 201
        # A new X-Forwarded-For each time buys nothing: the address is the peer's.
        assert_limited(await post_order(http, random_phone(), random_address()), "ip")
        assert (await http.get("/readyz")).json()["untrusted_forwarded"] == 3
    captured = capsys.readouterr()
    assert (captured.err + captured.out).count("which FORWARDED_ALLOW_IPS does not trust") == 1


async def test_behind_a_private_router_each_customer_has_an_allowance_of_their_own(
    make_settings: Callable[..., Settings],
) -> None:
    """Issue 15: with the defaults, a platform router (a private address) appends each
    customer's address; the right-most hop that is not a private proxy is the customer."""
    settings = make_settings("sqlite", "memory").with_overrides(push_limit_per_ip=1, sandbox_delay=30.0)
    async with served(settings) as (_, http):
        first, second = random_address(), random_address()
        while second == first:
            second = random_address()
        # What the client wrote itself sits on the left and is never believed.
        chains = [f"1.1.1.1, {first}, 10.1.2.3", f"8.8.8.8, {second}", f"{first}, 172.16.0.9"]
        answers = [await post_order(http, random_phone(), chain) for chain in chains]
        assert [a.status_code for a in answers] == [201, 201, 429]
        assert_limited(answers[2], "ip")
        assert (await http.get("/readyz")).json()["untrusted_forwarded"] == 0


async def test_ipv6_clients_count_by_their_64(limited: Callable[..., Settings]) -> None:
    """One IPv6 customer (or attacker) picks any of the 2**64 addresses of its /64 at will."""
    prefix = f"2001:db8:{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}"
    async with served(limited(push_limit_per_ip=2)) as (_, http):
        for host in ("::1", "::2"):
            assert (await post_order(http, random_phone(), f"{prefix}{host}")).status_code == 201
        # A new address in the same /64 is the same client...
        assert_limited(await post_order(http, random_phone(), f"{prefix}:dead:beef:1:2"), "ip")
        # ...and the neighbouring /64 is another.
        neighbour = prefix[:-1] + ("0" if prefix[-1] != "0" else "1")
        assert (await post_order(http, random_phone(), f"{neighbour}::1")).status_code == 201
