"""The hardening settings: push limits, CORS origins, the metrics token, and secrets kept out of repr."""

from __future__ import annotations

import pytest

from server.settings import Settings, SettingsError


def test_defaults_limit_pushes_and_keep_cors_closed() -> None:
    settings = Settings.from_env({}, dotenv=None)
    assert (settings.push_limit_per_phone, settings.push_limit_per_ip) == (3, 20)
    assert settings.push_limit_window == 600.0
    assert settings.cors_origins == ()
    assert settings.metrics_token is None


def test_zero_turns_a_push_limit_off() -> None:
    settings = Settings.from_env({"PUSH_LIMIT_PER_PHONE": "0", "PUSH_LIMIT_PER_IP": "0"}, dotenv=None)
    assert (settings.push_limit_per_phone, settings.push_limit_per_ip) == (0, 0)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PUSH_LIMIT_PER_PHONE", "-1"),
        ("PUSH_LIMIT_PER_IP", "lots"),
        ("PUSH_LIMIT_WINDOW", "0"),
        ("CORS_ORIGINS", "shop.example.com"),
        ("CORS_ORIGINS", "https://shop.example.com/checkout"),
        ("CORS_ORIGINS", "ftp://shop.example.com"),
        ("GATE_TOKEN", "short"),
        ("GATE_TOKEN", "a-long-enough-gate-token,short"),
    ],
)
def test_bad_values_stop_the_start_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value}, dotenv=None)


def test_cors_origins_are_a_comma_list() -> None:
    settings = Settings.from_env(
        {"CORS_ORIGINS": " https://a.example, http://b.example:8080/ ,"}, dotenv=None
    )
    assert settings.cors_origins == ("https://a.example", "http://b.example:8080")


def test_secrets_are_known_and_kept_out_of_repr() -> None:
    token = "t" * 40
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgres://app:db%40secret@db.internal:5432/payments",
            "REDIS_URL": "rediss://:redis-secret@cache.internal:6380/0",
            "CALLBACK_TOKEN": token,
            "TICKET_SIGNING_KEY": "s" * 40,
            "PAYHERO_MODE": "live",
            "PAYHERO_API_USERNAME": "merchant",
            "PAYHERO_API_PASSWORD": "payhero-secret",
            "PAYHERO_CHANNEL_ID": "7",
            "PUBLIC_BASE_URL": "https://pay.example.com",
            "METRICS_TOKEN": "metrics-secret",
        },
        dotenv=None,
    )
    secrets = set(settings.secret_values())
    assert {token, "db%40secret", "db@secret", "redis-secret", "payhero-secret", "metrics-secret"} <= secrets
    for secret in secrets:
        assert secret not in repr(settings)


def test_gate_tokens_are_a_comma_list_kept_out_of_repr_and_logs() -> None:
    assert Settings.from_env({}, dotenv=None).gate_tokens == ()
    settings = Settings.from_env({"GATE_TOKEN": " north-gate-token-01 , south-gate-token-02 ,"}, dotenv=None)
    assert settings.gate_tokens == ("north-gate-token-01", "south-gate-token-02")
    assert "north-gate" not in repr(settings)
    assert {"north-gate-token-01", "south-gate-token-02"} <= set(settings.secret_values())
