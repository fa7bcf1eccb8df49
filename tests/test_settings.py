from __future__ import annotations

from pathlib import Path

import pytest

from server.settings import Settings, SettingsError


def test_defaults_are_the_embedded_single_host_setup() -> None:
    settings = Settings.from_env({}, dotenv=None)
    assert settings.port == 8000
    assert settings.database_url == "sqlite+aiosqlite:///data/payments.sqlite3"
    assert settings.store_kind == "sqlite"
    assert settings.redis_url is None and settings.broker_kind == "memory"
    assert settings.wait_timeout == 25.0
    assert settings.safety_net_interval == 5.0
    assert settings.sse_ping_interval == 15.0


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("postgres://u:p@h:5432/db", "postgresql+asyncpg://u:p@h:5432/db"),
        ("postgresql://h/db", "postgresql+asyncpg://h/db"),
        ("sqlite:///x.db", "sqlite+aiosqlite:///x.db"),
    ],
)
def test_platform_database_urls_are_normalised(raw: str, expected: str) -> None:
    assert Settings.from_env({"DATABASE_URL": raw}, dotenv=None).database_url == expected


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "eighty"),
        ("PORT", "70000"),
        ("WAIT_TIMEOUT", "-1"),
        ("WAIT_TIMEOUT", "soon"),
        ("SAFETY_NET_INTERVAL", "0"),
        ("DATABASE_URL", "mysql://h/db"),
        ("REDIS_URL", "localhost:6379"),
        ("REDIS_CLUSTER", "maybe"),
        ("LOG_FORMAT", "xml"),
    ],
)
def test_a_bad_value_is_refused_with_the_variable_named(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value}, dotenv=None)


def test_redis_cluster_needs_a_node_to_start_from() -> None:
    with pytest.raises(SettingsError, match="REDIS_CLUSTER=1 needs REDIS_URL"):
        Settings.from_env({"REDIS_CLUSTER": "1"}, dotenv=None)
    settings = Settings.from_env({"REDIS_CLUSTER": "1", "REDIS_URL": "redis://node-a:6379"}, dotenv=None)
    assert settings.redis_cluster and settings.broker_kind == "redis-cluster"


def test_wait_timeout_above_its_cap_is_refused() -> None:
    with pytest.raises(SettingsError, match="WAIT_TIMEOUT"):
        Settings.from_env({"WAIT_TIMEOUT": "40", "WAIT_TIMEOUT_MAX": "30"}, dotenv=None)


def test_dotenv_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text('# local\nPORT=9001\nexport WAIT_TIMEOUT="12"\nREDIS_URL=redis://x:6379\n')
    settings = Settings.from_env({"PORT": "9002"}, dotenv=dotenv)
    assert settings.port == 9002
    assert settings.wait_timeout == 12.0
    assert settings.redis_url == "redis://x:6379"
