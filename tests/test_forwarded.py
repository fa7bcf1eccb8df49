"""Who the client is behind proxies (issue 15): the right-most untrusted X-Forwarded-For hop."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.ops.forwarded import TrustedProxies
from server.settings import Settings, SettingsError
from server.settings.formats import DEFAULT_TRUSTED, parse_trusted
from tests.local_http import local_client
from tests.ops_helpers import checkout_body
from tests.process_harness import running_service

DEFAULTS = TrustedProxies(DEFAULT_TRUSTED)


@pytest.mark.parametrize(
    ("chain", "client"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("203.0.113.7, 10.0.0.5", "203.0.113.7"),
        ("6.6.6.6, 203.0.113.7, 10.0.0.5, 192.168.1.1", "203.0.113.7"),  # the left was typed
        ("203.0.113.7:51234, 100.64.3.2", "203.0.113.7"),  # a proxy that adds the port
        ("[2001:db8::7]:443, fd00::1", "2001:db8::7"),
        ("2001:db8::7, ::ffff:10.0.0.1", "2001:db8::7"),  # IPv4-mapped private is private
        ("10.0.0.1, 10.0.0.2", "10.0.0.1"),  # all trusted: the left-most, as uvicorn does
        (" , ", None),
        # Only an address is a client (issue 24): anything else leaves the request the peer's.
        ("garbage, 10.0.0.2", None),
        ("203.0.113.7, garbage-25", None),
        ("unknown", None),
        ("2001:DB8:0:0::7", "2001:db8::7"),  # one spelling, one allowance
    ],
)
def test_the_client_is_the_right_most_hop_that_is_not_a_trusted_proxy(chain: str, client: str | None) -> None:
    assert DEFAULTS.client_in(chain) == client


def test_loopback_and_private_ranges_are_trusted_by_default_and_public_ones_not() -> None:
    for proxy in ("127.0.0.1", "::1", "10.9.8.7", "172.31.0.1", "192.168.0.10", "100.64.0.1", "fd12::1"):
        assert proxy in DEFAULTS, proxy
    for outsider in ("203.0.113.7", "172.32.0.1", "8.8.8.8", "2001:db8::1", "not-an-address"):
        assert outsider not in DEFAULTS, outsider


def test_forwarded_allow_ips_overrides_the_default_and_a_bad_entry_stops_the_start() -> None:
    assert Settings.from_env({}, dotenv=None).forwarded_allow_ips == DEFAULT_TRUSTED
    settings = Settings.from_env({"FORWARDED_ALLOW_IPS": "192.0.2.10, 10.1.0.0/16"}, dotenv=None)
    assert settings.forwarded_allow_ips == ("192.0.2.10", "10.1.0.0/16")
    assert "10.0.0.1" not in TrustedProxies(settings.forwarded_allow_ips)
    assert parse_trusted("*, /run/proxy.sock") == ("*", "/run/proxy.sock")
    with pytest.raises(SettingsError, match="FORWARDED_ALLOW_IPS"):
        Settings.from_env({"FORWARDED_ALLOW_IPS": "10.0.0.0/33"}, dotenv=None)


async def test_the_procfile_service_behind_a_router_gives_each_customer_an_allowance(tmp_path: Path) -> None:
    """The Procfile's command with the defaults, reached from loopback like a router's dyno."""
    env = {
        "DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'service.sqlite3'}",
        "SANDBOX_DELAY": "600",
        "PUSH_LIMIT_PER_IP": "1",
        "FORWARDED_ALLOW_IPS": "",
    }
    with running_service(env, tmp_path) as service:
        async with local_client(service.base_url, timeout=20) as http:

            async def order(chain: str, phone: str) -> int:
                headers = {"X-Forwarded-For": chain}
                response = await http.post("/api/orders", json=checkout_body(phone=phone), headers=headers)
                return response.status_code

            assert await order("198.51.100.1, 10.0.0.2", "0712000001") == 201
            assert await order("198.51.100.2, 10.0.0.2", "0712000002") == 201
            assert await order("198.51.100.1, 10.0.0.2", "0712000003") == 429
            # Made-up values are no address: each counts as the router itself, one allowance.
            assert await order("made-up-1", "0712000004") == 201
            for n in range(2, 6):
                assert await order(f"made-up-{n}", f"071200001{n}") == 429
            ready = (await http.get("/readyz")).json()
    assert ready["untrusted_forwarded"] == 0
