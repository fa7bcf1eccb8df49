"""Secrets made once and kept under DATA_DIR: read or written at start-up, never while parsing."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

from server.settings.declarations import MIN_TOKEN_LENGTH, SettingsError


def kept_secret(data_dir: Path, name: str) -> str:
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
