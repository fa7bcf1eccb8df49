"""The payment variables: PayHero's mode and credentials, the callback, timeouts and expiry."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from server.settings_values import (
    MIN_TOKEN_LENGTH,
    SettingsError,
    _bool,
    _http_url,
    _kept_secret,
    _non_negative_float,
    _parse,
    _positive_float,
    _positive_int,
)

DEFAULT_CATALOGUE = Path(__file__).parent / "data" / "catalogue.json"


CREDENTIALS = ("PAYHERO_API_USERNAME", "PAYHERO_API_PASSWORD", "PAYHERO_CHANNEL_ID")
CALLBACK_SHAPES = ("v2", "flat")
# How long M-PESA keeps an STK prompt open on the phone (docs/PAYHERO.md).
DEFAULT_PROMPT_WINDOW = 60.0


def _mode(env: Mapping[str, str]) -> str:
    """`sandbox` unless PAYHERO_MODE=live says otherwise; never guessed from credentials.

    Half a set of credentials used to fall back to the sandbox silently: every order "paid",
    genuine tickets, no money. Credentials without the mode are refused instead.
    """
    raw = (env.get("PAYHERO_MODE") or "").strip().lower()
    if raw not in {"", "sandbox", "live"}:
        raise SettingsError(f"PAYHERO_MODE={raw!r} is not valid: use sandbox or live")
    if raw != "live":
        present = [name for name in CREDENTIALS if (env.get(name) or "").strip()]
        if present:
            raise SettingsError(
                f"{present[0]} is set but PAYHERO_MODE is {raw or 'unset'}: set PAYHERO_MODE=live "
                "to take real payments, or unset the PayHero credentials for the sandbox"
            )
    return raw or "sandbox"


def _callback_shape(raw: str) -> str:
    if raw not in CALLBACK_SHAPES:
        raise ValueError("must be v2 (PayHero's nested callback) or flat (API 2.0)")
    return raw


def payment_settings(env: Mapping[str, str], data_dir: Path, port: int) -> dict[str, Any]:
    username = env.get("PAYHERO_API_USERNAME") or None
    password = env.get("PAYHERO_API_PASSWORD") or None
    mode = _mode(env)
    channel_id = _parse(env, "PAYHERO_CHANNEL_ID", None, _positive_int)
    token = env.get("CALLBACK_TOKEN", "").strip()
    public_base_url = _parse(env, "PUBLIC_BASE_URL", "", _http_url)
    if mode == "live":
        missing = [
            name
            for name, value in [
                ("PAYHERO_API_USERNAME", username),
                ("PAYHERO_API_PASSWORD", password),
                ("PAYHERO_CHANNEL_ID", channel_id),
                ("PUBLIC_BASE_URL", public_base_url),
                ("CALLBACK_TOKEN", token),
            ]
            if not value
        ]
        if missing:
            raise SettingsError(f"PAYHERO_MODE=live needs {', '.join(missing)}")
    if token and len(token) < MIN_TOKEN_LENGTH:
        raise SettingsError(f"CALLBACK_TOKEN must be at least {MIN_TOKEN_LENGTH} characters")
    timeout = _parse(env, "PAYHERO_TIMEOUT", 15.0, _positive_float)
    prompt_window = _parse(env, "PROMPT_WINDOW", DEFAULT_PROMPT_WINDOW, _positive_float)
    expiry = _parse(env, "PAYMENT_EXPIRY", 180.0, _positive_float)
    if expiry < timeout + prompt_window:
        # Expiring sooner would give up on a push still waiting for PayHero's answer, or a
        # prompt still open on the customer's phone: a payment made then would land late.
        raise SettingsError(
            f"PAYMENT_EXPIRY={expiry:g} is too short: it must leave room for PAYHERO_TIMEOUT "
            f"({timeout:g}) and the prompt's window PROMPT_WINDOW ({prompt_window:g}), "
            f"so at least {timeout + prompt_window:g}"
        )
    return {
        "payhero_mode": mode,
        "payhero_base_url": _parse(env, "PAYHERO_BASE_URL", "https://backend.payhero.co.ke", _http_url),
        "payhero_username": username,
        "payhero_password": password,
        "payhero_channel_id": channel_id,
        "payhero_timeout": timeout,
        "payhero_verify_callbacks": _parse(env, "PAYHERO_VERIFY_CALLBACKS", False, _bool),
        "payhero_callback_shape": _parse(env, "PAYHERO_CALLBACK_SHAPE", "v2", _callback_shape),
        "prompt_window": prompt_window,
        "sandbox_delay": _parse(env, "SANDBOX_DELAY", 3.0, _non_negative_float),
        "callback_token": token or _kept_secret(data_dir, "callback_token"),
        "public_base_url": public_base_url or f"http://127.0.0.1:{port}",
        "callback_max_bytes": _parse(env, "CALLBACK_MAX_BYTES", 64 * 1024, _positive_int),
        "payment_expiry": expiry,
        "expiry_check_interval": _parse(env, "EXPIRY_CHECK_INTERVAL", 15.0, _positive_float),
        "catalogue_file": Path(env.get("CATALOGUE_FILE") or DEFAULT_CATALOGUE),
    }
