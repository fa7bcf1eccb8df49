"""DATA_DIR, the SQLite files (with -wal and -shm) and the outbox are the service's user's
alone: folders 0700, files 0600, made so from the start and tightened when found open."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from server.settings import Settings
from tests.local_http import local_client
from tests.payhero_fixtures import ORDER, TOKEN
from tests.server_harness import run_server, until


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The usual 022: anything not made private on purpose would be world-readable."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


@pytest.mark.usefixtures("open_umask")
async def test_data_dir_database_and_outbox_are_private(tmp_path: Path) -> None:
    data = tmp_path / "service-data"
    settings = Settings.from_env(
        {
            "DATA_DIR": str(data),
            "DATABASE_URL": f"sqlite+aiosqlite:///{data / 'payments.sqlite3'}",
            "CALLBACK_TOKEN": TOKEN,
            "SANDBOX_DELAY": "0.05",
            "MAIL_COMPOSE_PROCESSES": "0",
            "LOG_LEVEL": "WARNING",
        },
        dotenv=None,
    )
    async with run_server(settings) as live, local_client(live.base_url, timeout=30) as http:
        order = (await http.post("/api/orders", json=ORDER)).json()
        paid = await http.get(order["wait_url"], params={"since": 2, "timeout": 10})
        assert paid.json()["payment_status"] == "completed"
        outbox = data / "outbox"
        await until(lambda: outbox.is_dir() and len(list(outbox.glob("*.eml"))) == 3, timeout=30)
        database = data / "payments.sqlite3"
        files = [database, *(data / f"payments.sqlite3{suffix}" for suffix in ("-wal", "-shm"))]
        assert all(path.exists() for path in files)  # WAL mode, written to: both companions exist
        for folder in (data, outbox):
            assert mode(folder) == 0o700, folder
        for path in [*files, *outbox.glob("*.eml"), *data.glob("*_token"), *data.glob("*_key")]:
            assert mode(path) == 0o600, path


@pytest.mark.usefixtures("open_umask")
async def test_files_an_earlier_version_left_open_are_made_private(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    data = tmp_path / "old-data"
    data.mkdir(mode=0o755)
    database = data / "payments.sqlite3"
    files = [database, data / "payments.sqlite3-wal", data / "payments.sqlite3-shm"]
    for path in files:
        path.touch(mode=0o644)
    settings = make_settings("sqlite", "memory").with_overrides(
        data_dir=data, database_url=f"sqlite+aiosqlite:///{database}"
    )
    async with run_server(settings):
        # While it runs: a clean stop checkpoints and removes the WAL companions.
        assert mode(data) == 0o700
        assert [mode(path) for path in files] == [0o600] * 3
