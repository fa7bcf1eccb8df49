"""Issue 19: `python -m server backup DEST` while the service takes payments, a restore done as
docs/OPERATIONS.md says, and the schema's version guarded by `migrate` and the start."""

from __future__ import annotations

import shutil
import sqlite3
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.store.database import MIGRATIONS
from tests.local_http import local_sync_client
from tests.payhero_fixtures import ORDER
from tests.process_harness import ROOT, running_service, sandbox_env
from tests.test_platform_start import command_line, web_start

pytestmark = pytest.mark.slow


def paid_order(http: httpx.Client) -> dict[str, Any]:
    """A sandbox checkout whose customer pays (a phone ending 5678), waited for until paid."""
    created = http.post("/api/orders", json={**ORDER, "phone": "0712345678"})
    assert created.status_code == 201, created.text
    order = created.json()
    while order["payment_status"] != "completed":
        order = http.get(order["wait_url"], params={"since": order["version"]}).json()
        assert order["payment_status"] in {"pending", "processing", "completed"}, order
    return order


def test_a_backup_taken_under_payments_restores_with_orders_and_tickets_intact(tmp_path: Path) -> None:
    env = sandbox_env(tmp_path, SANDBOX_DELAY="0.2", PUSH_LIMIT_PER_PHONE="0", PUSH_LIMIT_PER_IP="0")
    data_dir, database = Path(env["DATA_DIR"]), tmp_path / "service.sqlite3"
    dest = tmp_path / "backup"
    with (
        running_service(env, tmp_path) as service,
        local_sync_client(service.base_url, timeout=60) as http,
    ):
        before = [paid_order(http) for _ in range(3)]
        # More payments land while the backup copies the pages.
        stop = threading.Event()
        during: list[dict[str, Any]] = []

        def keep_paying() -> None:
            with local_sync_client(service.base_url, timeout=60) as other:
                while not stop.is_set():
                    during.append(paid_order(other))

        payer = threading.Thread(target=keep_paying)
        payer.start()
        try:
            done = command_line({**env, "PORT": service.base_url.rsplit(":", 1)[1]}, "backup", str(dest))
        finally:
            stop.set()
            payer.join(timeout=120)
        assert done.returncode == 0, done.stderr
        assert during, "no payment ran beside the backup"
    # CALLBACK_TOKEN comes from the environment here; the signing key was made into DATA_DIR.
    assert sorted(p.name for p in dest.iterdir()) == ["backup.json", "payments.sqlite3", "ticket_signing_key"]
    assert all(p.stat().st_mode & 0o077 == 0 for p in dest.iterdir())
    with sqlite3.connect(dest / "payments.sqlite3") as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)

    # A new disk: the data directory and the database are gone. Restore as OPERATIONS.md says.
    shutil.rmtree(data_dir)
    for leftover in tmp_path.glob("service.sqlite3*"):
        leftover.unlink()
    data_dir.mkdir(mode=0o700)
    shutil.copy2(dest / "payments.sqlite3", database)
    for kept in dest.glob("*"):
        if kept.name in {"callback_token", "ticket_signing_key"}:
            shutil.copy2(kept, data_dir / kept.name)

    with (
        running_service(env, tmp_path, name="restored") as service,
        local_sync_client(service.base_url, timeout=30) as http,
    ):
        for order in before:
            again = http.get(f"/api/orders/{order['order_id']}").json()
            assert again["payment_status"] == "completed" and again["version"] == order["version"]
            assert [t["code"] for t in again["tickets"]] == [t["code"] for t in order["tickets"]]
            for ticket in order["tickets"]:
                verified = http.get("/api/tickets/verify", params={"code": ticket["code"]})
                assert verified.status_code == 200, verified.text


def test_backup_on_postgresql_points_at_pg_dump(tmp_path: Path) -> None:
    env = {**sandbox_env(tmp_path), "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/test"}
    done = command_line(env, "backup", str(tmp_path / "b"))
    assert done.returncode == 2 and "pg_dump --format=custom" in done.stderr


def test_migrate_brings_a_new_database_up_and_is_idempotent(tmp_path: Path) -> None:
    env = sandbox_env(tmp_path)
    for _ in range(2):
        done = command_line(env, "migrate")
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"schema at version {len(MIGRATIONS)}"


def test_a_schema_newer_than_the_code_refuses_to_start_naming_both_versions(tmp_path: Path) -> None:
    env = sandbox_env(tmp_path)
    assert command_line(env, "migrate").returncode == 0
    with sqlite3.connect(tmp_path / "service.sqlite3") as db:
        db.execute("INSERT INTO schema_version (version) VALUES (99)")
    expected = f"the database's schema is version 99, newer than this code's {len(MIGRATIONS)}"
    for done in (web_start(env), command_line(env, "migrate")):
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert expected in done.stderr


def test_the_procfile_migrates_in_a_release_phase() -> None:
    procfile = (ROOT / "Procfile").read_text()
    assert "release: python -m server migrate" in procfile
