"""`python -m server backup DEST` and `python -m server migrate`.

`backup` copies a consistent SQLite database with SQLite's online backup API (pages copied
while the service goes on committing callbacks: the copy is the database as of one moment)
and the secrets kept in DATA_DIR (`callback_token`, `ticket_signing_key`: without the key,
the tickets in the copy would not verify). On PostgreSQL it refuses and prints the
`pg_dump` line: the database is the server's to dump. Restoring is in docs/OPERATIONS.md.

`migrate` brings the schema up to date and exits: a Procfile `release:` phase runs it once
per deploy, before any web process starts, so web processes never race on migrations (their
own start finds the schema current). Both refuse a schema newer than the code.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from server.ops.preflight import preflight_or_exit
from server.private_files import private_dir, write_private
from server.settings import Settings
from server.store.database import SchemaTooNew, migrate, open_database, schema_version

# The secrets kept_secrets.py makes into DATA_DIR when the environment sets none.
KEPT_SECRETS = ("callback_token", "ticket_signing_key")
DATABASE_FILE = "payments.sqlite3"
MANIFEST = "backup.json"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    backup = subparsers.add_parser(
        "backup", help="copy the SQLite database (online, consistent) and DATA_DIR's secrets to DEST"
    )
    backup.add_argument("dest", type=Path, metavar="DEST", help="a directory, made if missing (0700)")
    backup.set_defaults(handler=run_backup)
    migrating = subparsers.add_parser(
        "migrate", help="bring the database's schema up to date, then exit (a Procfile release phase)"
    )
    migrating.set_defaults(handler=run_migrate)


def sqlite_path(database_url: str) -> Path:
    return Path(urlsplit(database_url).path.removeprefix("/"))


PG_DUMP_LINE = 'pg_dump --format=custom --no-owner --file=payments.dump "$DATABASE_URL"'


def copy_sqlite(source: Path, target: Path) -> int:
    """SQLite's online backup: a consistent copy while other connections write. Returns pages."""
    pages = 0
    # Not `mode=ro`: a read-only connection to a WAL database whose `-shm` file is missing
    # (the service stopped) cannot open it. The backup only reads the source.
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:

        def progress(_status: int, remaining: int, total: int) -> None:
            nonlocal pages
            pages = total

        # Small steps: the service's writers are held up for one step at a time, not the whole copy.
        src.backup(dst, pages=256, progress=progress, sleep=0.005)
    return pages


def backup(settings: Settings, dest: Path) -> dict[str, object]:
    source = sqlite_path(settings.database_url)
    if not source.is_file():
        raise FileNotFoundError(f"no SQLite database at {source}")
    private_dir(dest)
    target = dest / DATABASE_FILE
    partial = dest / f"{DATABASE_FILE}.partial"
    partial.unlink(missing_ok=True)
    write_private(partial, b"")
    pages = copy_sqlite(source, partial)
    partial.replace(target)
    secrets: list[str] = []
    for name in KEPT_SECRETS:
        kept = settings.data_dir / name
        if kept.is_file():
            write_private(dest / name, kept.read_bytes())
            secrets.append(name)
    version = asyncio.run(_version_of(target))
    manifest = {
        "made_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "database": DATABASE_FILE,
        "schema_version": version,
        "pages": pages,
        "secrets": secrets,
    }
    write_private(dest / MANIFEST, json.dumps(manifest, indent=2).encode())
    return manifest


async def _version_of(path: Path) -> int:
    database = open_database(f"sqlite+aiosqlite:///{path}")
    await database.connect()
    try:
        return await schema_version(database)
    finally:
        await database.disconnect()


def run_backup(args: argparse.Namespace, settings: Settings) -> int:
    if settings.store_kind != "sqlite":
        print(
            "backup copies a SQLite database; on PostgreSQL use the server's own dump:\n  " + PG_DUMP_LINE,
            file=sys.stderr,
        )
        return 2
    try:
        manifest = backup(settings, args.dest)
    except (OSError, sqlite3.Error) as exc:
        print(f"backup failed: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"dest": str(args.dest), **manifest}))
    if not (args.dest / "ticket_signing_key").is_file() and not settings.ticket_signing_keys:
        # The key came from the environment: the copy's tickets verify only with it.
        print("note: TICKET_SIGNING_KEY comes from the environment; keep it with the backup", file=sys.stderr)
    return 0


async def _migrate(settings: Settings) -> int:
    database = open_database(settings.database_url, busy_timeout=settings.sqlite_busy_timeout, pool_size=1)
    await database.connect()
    try:
        return await migrate(database)
    finally:
        await database.disconnect()


def run_migrate(args: argparse.Namespace, settings: Settings) -> int:
    preflight_or_exit(settings)  # the store waited for; a schema newer than the code refused
    try:
        version = asyncio.run(_migrate(settings))
    except SchemaTooNew as refused:
        print(f"cannot migrate: {refused}", file=sys.stderr)
        return 2
    print(f"schema at version {version}")
    return 0
