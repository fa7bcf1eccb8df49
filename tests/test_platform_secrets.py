"""Issue 19: the secrets that must outlive a platform's ephemeral disk, and key rotation."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.settings import Settings, SettingsError
from server.tickets.codes import TicketSigner, parse_code
from tests.test_settings import LIVE

OLD, NEW = "old-key-" + "o" * 32, "new-key-" + "n" * 32


def without(*names: str) -> dict[str, str]:
    return {key: value for key, value in LIVE.items() if key not in names}


def test_live_mode_refuses_to_start_without_a_ticket_signing_key(tmp_path: Path) -> None:
    env = {**without("TICKET_SIGNING_KEY"), "DATA_DIR": str(tmp_path)}
    with pytest.raises(SettingsError, match="TICKET_SIGNING_KEY") as refused:
        Settings.from_env(env, dotenv=None)
    assert "tickets sold before would stop scanning" in str(refused.value)
    assert not (tmp_path / "ticket_signing_key").exists()  # nothing made into the disk


def test_each_missing_kept_secret_is_named_on_its_own_line() -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env(without("TICKET_SIGNING_KEY", "CALLBACK_TOKEN"), dotenv=None)
    lines = str(refused.value).splitlines()
    assert any(line.startswith("PAYHERO_MODE=live needs CALLBACK_TOKEN") for line in lines)
    assert any(line.startswith("PAYHERO_MODE=live needs TICKET_SIGNING_KEY") for line in lines)


def test_the_sandbox_still_makes_its_own_key_into_data_dir(tmp_path: Path) -> None:
    settings = Settings.from_env({"DATA_DIR": str(tmp_path)}, dotenv=None).resolve_secrets()
    assert (tmp_path / "ticket_signing_key").read_text() == settings.ticket_signing_key


def test_rotation_signs_with_the_first_key_and_verifies_with_any() -> None:
    env = {**without("TICKET_SIGNING_KEY"), "TICKET_SIGNING_KEYS": f"{NEW}, {OLD}"}
    settings = Settings.from_env(env, dotenv=None).resolve_secrets()
    assert settings.signing_keys == (NEW, OLD) and settings.ticket_signing_key == NEW
    assert OLD in settings.secret_values() and NEW in settings.secret_values()
    rotated = TicketSigner(settings.ticket_signing_key, *settings.signing_keys)
    sold_before = parse_code(TicketSigner(OLD).sign("AbCdEfGhIjKlMnOp", "demo-fest", "regular"))
    assert sold_before is not None
    assert rotated.verify(sold_before, "demo-fest", "regular")
    sold_now = rotated.sign("AbCdEfGhIjKlMnOp", "demo-fest", "regular")
    parsed = parse_code(sold_now)
    assert parsed is not None and TicketSigner(NEW).verify(parsed, "demo-fest", "regular")
    assert not TicketSigner(OLD).verify(parsed, "demo-fest", "regular")
    # Once the old key is dropped from the list, its tickets stop verifying.
    assert not TicketSigner(NEW).verify(sold_before, "demo-fest", "regular")


def test_rotation_keys_are_long_and_agree_with_the_single_key() -> None:
    with pytest.raises(SettingsError, match="TICKET_SIGNING_KEYS") as refused:
        Settings.from_env({"TICKET_SIGNING_KEYS": f"{NEW},short"}, dotenv=None)
    assert "short" not in str(refused.value)  # a secret is never repeated
    with pytest.raises(SettingsError, match="not both"):
        Settings.from_env({"TICKET_SIGNING_KEYS": f"{NEW},{OLD}", "TICKET_SIGNING_KEY": OLD}, dotenv=None)
