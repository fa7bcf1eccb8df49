"""Settings of fulfilment: the ticket signing key, the mail server and the outbox worker."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from server.settings import Settings, SettingsError


def from_env(data_dir: Path, **env: str) -> Settings:
    return Settings.from_env({"DATA_DIR": str(data_dir), **env}, dotenv=None)


def test_without_a_key_one_is_made_at_start_up_kept_0600_and_reused(tmp_path: Path) -> None:
    first = from_env(tmp_path).resolve_secrets()
    kept = tmp_path / "ticket_signing_key"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert len(first.ticket_signing_key) >= 32
    assert from_env(tmp_path).resolve_secrets().ticket_signing_key == first.ticket_signing_key
    assert first.ticket_signing_key not in repr(first)


def test_processes_starting_at_once_agree_on_one_key(tmp_path: Path) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        keys = set(pool.map(lambda _: from_env(tmp_path).resolve_secrets().ticket_signing_key, range(16)))
    assert len(keys) == 1


def test_the_configured_key_wins_and_must_be_long(tmp_path: Path) -> None:
    configured = from_env(tmp_path, TICKET_SIGNING_KEY="s" * 40).resolve_secrets()
    assert configured.ticket_signing_key == "s" * 40
    assert not (tmp_path / "ticket_signing_key").exists()
    with pytest.raises(SettingsError, match="TICKET_SIGNING_KEY"):
        from_env(tmp_path, TICKET_SIGNING_KEY="short")


def test_mail_defaults_write_eml_files(tmp_path: Path) -> None:
    settings = from_env(tmp_path)
    assert settings.smtp_url is None
    assert settings.outbox_poll_interval == 30.0 and settings.outbox_lease > settings.smtp_timeout
    assert settings.mail_compose_processes == 1
    assert from_env(tmp_path, MAIL_COMPOSE_PROCESSES="0").mail_compose_processes == 0


def test_smtp_url_is_read_and_kept_out_of_repr(tmp_path: Path) -> None:
    settings = from_env(tmp_path, SMTP_URL="smtps://user:s3cret@mail.example.org:465")
    assert settings.smtp_url == "smtps://user:s3cret@mail.example.org:465"
    assert "s3cret" not in repr(settings)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SMTP_URL", "mail.example.org:25"),
        ("SMTP_URL", "http://mail.example.org"),
        ("MAIL_FROM", "not an address"),
        ("OUTBOX_POLL_INTERVAL", "0"),
        ("OUTBOX_RETRY_BASE", "-1"),
        ("OUTBOX_LEASE", "10"),  # shorter than one SMTP attempt (SMTP_TIMEOUT 30)
        ("MAIL_COMPOSE_PROCESSES", "-1"),
        ("MAIL_COMPOSE_PROCESSES", "two"),
    ],
)
def test_a_bad_mail_value_is_refused_with_the_variable_named(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        from_env(tmp_path, **{name: value})
