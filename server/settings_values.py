"""Reading one variable: the converters and checks every settings module shares."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

MIN_TOKEN_LENGTH = 32


class SettingsError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


def _parse(env: Mapping[str, str], name: str, default: T, convert: Callable[[str], T]) -> T:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return convert(raw.strip())
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"{name}={raw!r} is not valid: {exc}") from None


def _positive_float(raw: str) -> float:
    value = float(raw)
    if not value > 0:
        raise ValueError("must be a number greater than 0")
    return value


def _bool(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError("must be true or false")


def _non_negative_float(raw: str) -> float:
    value = float(raw)
    if not value >= 0:
        raise ValueError("must be a number, 0 or more")
    return value


def _non_negative_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError("must be a whole number, 0 or more (0: no limit)")
    return value


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError("must be a whole number greater than 0")
    return value


def _http_url(raw: str) -> str:
    if not raw.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    return raw.rstrip("/")


def _kept_secret(data_dir: Path, name: str) -> str:
    """A random secret made once and kept under the data dir (0600), so that every process
    and command of this host (`simulate`, `verify-ticket`, a restart) finds the same one."""
    path = data_dir / name
    for _ in range(50):
        if path.is_file():
            token = path.read_text(encoding="utf-8").strip()
            if len(token) >= MIN_TOKEN_LENGTH:
                return token
            if token:  # too short to be ours: replace it with a real one
                path.unlink(missing_ok=True)
            else:  # another process has just created it and is writing: read again
                time.sleep(0.01)
                continue
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        token = secrets.token_urlsafe(32)
        # O_EXCL: of several processes starting at once exactly one writes, and the others
        # read its secret (two signing keys would make each other's tickets look forged).
        # 0600 from the first byte, never world-readable for a moment.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(token)
        return token
    raise SettingsError(f"{path} exists but holds no usable secret")
