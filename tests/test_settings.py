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


LIVE = {
    "PAYHERO_MODE": "live",
    "PAYHERO_API_USERNAME": "merchant",
    "PAYHERO_API_PASSWORD": "secret-of-12",
    "PAYHERO_CHANNEL_ID": "7",
    "PUBLIC_BASE_URL": "https://pay.example.com",
    "CALLBACK_TOKEN": "c" * 40,
    "TICKET_SIGNING_KEY": "s" * 40,
}


def test_live_mode_with_every_credential_starts_live() -> None:
    settings = Settings.from_env(LIVE, dotenv=None)
    assert settings.payhero_mode == "live" and not settings.sandbox


@pytest.mark.parametrize("name", ["PAYHERO_API_USERNAME", "PAYHERO_API_PASSWORD", "PAYHERO_CHANNEL_ID"])
def test_a_credential_without_live_mode_refuses_to_start_naming_it(name: str) -> None:
    """Half a set of credentials used to run the sandbox silently: every order 'paid', no money."""
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: LIVE[name]}, dotenv=None)
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: LIVE[name], "PAYHERO_MODE": "sandbox"}, dotenv=None)


@pytest.mark.parametrize("name", ["PAYHERO_API_USERNAME", "PAYHERO_API_PASSWORD", "PAYHERO_CHANNEL_ID"])
def test_live_mode_without_a_credential_refuses_to_start_naming_it(name: str) -> None:
    env = {key: value for key, value in LIVE.items() if key != name}
    with pytest.raises(SettingsError, match=name):
        Settings.from_env(env, dotenv=None)


def test_a_payment_expiry_shorter_than_the_push_timeout_and_the_prompt_is_refused() -> None:
    with pytest.raises(SettingsError, match="PAYMENT_EXPIRY"):
        Settings.from_env({"PAYMENT_EXPIRY": "70"}, dotenv=None)  # 15 s timeout + 60 s prompt
    settings = Settings.from_env({"PAYMENT_EXPIRY": "75"}, dotenv=None)
    assert settings.payment_expiry == 75.0
    short = {"PAYMENT_EXPIRY": "3", "PAYHERO_TIMEOUT": "1", "PROMPT_WINDOW": "2"}
    assert Settings.from_env(short, dotenv=None).prompt_window == 2.0


def test_the_sandbox_callback_shape_is_v2_or_flat() -> None:
    assert Settings.from_env({}, dotenv=None).payhero_callback_shape == "v2"
    assert Settings.from_env({"PAYHERO_CALLBACK_SHAPE": "flat"}, dotenv=None).payhero_callback_shape == "flat"
    with pytest.raises(SettingsError, match="PAYHERO_CALLBACK_SHAPE"):
        Settings.from_env({"PAYHERO_CALLBACK_SHAPE": "v3"}, dotenv=None)


@pytest.mark.parametrize(
    ("changes", "name"),
    [
        ({"wait_timeout": -1.0}, "WAIT_TIMEOUT"),
        ({"port": 70000}, "PORT"),
        ({"log_format": "xml"}, "LOG_FORMAT"),
        ({"redis_url": "localhost:6379"}, "REDIS_URL"),
        ({"max_waiters": -1}, "MAX_WAITERS"),
        ({"gate_tokens": ("short",)}, "GATE_TOKEN"),
        ({"wait_timeout": 40.0, "wait_timeout_max": 30.0}, "WAIT_TIMEOUT"),
        ({"payment_expiry": 10.0}, "PAYMENT_EXPIRY"),
        ({"outbox_lease": 10.0}, "OUTBOX_LEASE"),
        ({"payhero_mode": "live", "callback_token": "c" * 40}, "PAYHERO_API_USERNAME"),
        ({"callback_token": "short"}, "CALLBACK_TOKEN"),
    ],
)
def test_overrides_are_checked_as_the_environment_is(changes: dict[str, object], name: str) -> None:
    """Tests build most settings with `with_overrides`: a value the environment would refuse
    must not slip through there either."""
    base = Settings.from_env({}, dotenv=None)
    with pytest.raises(SettingsError, match=name):
        base.with_overrides(**changes)


def test_a_secret_is_not_repeated_in_the_refusal() -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({"GATE_TOKEN": "tiny-secret"}, dotenv=None)
    assert "GATE_TOKEN" in str(refused.value) and "tiny-secret" not in str(refused.value)


def test_live_overrides_with_every_credential_are_accepted() -> None:
    live = Settings.from_env({}, dotenv=None).with_overrides(
        payhero_mode="live",
        payhero_username="merchant",
        payhero_password="secret-of-12",
        payhero_channel_id=7,
        callback_token="c" * 40,
        ticket_signing_key="s" * 40,
    )
    assert live.payhero_mode == "live"


def test_parsing_writes_no_file_and_start_up_keeps_the_secrets(tmp_path: Path) -> None:
    data = tmp_path / "data"
    settings = Settings.from_env({"DATA_DIR": str(data)}, dotenv=None)
    assert not data.exists()
    assert settings.callback_token == "" and settings.ticket_signing_key == ""
    resolved = settings.resolve_secrets()
    assert sorted(path.name for path in data.iterdir()) == ["callback_token", "ticket_signing_key"]
    assert len(resolved.callback_token) >= 32 and resolved.callback_token in resolved.callback_url
    assert resolved.resolve_secrets() is resolved
    assert settings.resolve_secrets() == resolved  # read back, not made again
