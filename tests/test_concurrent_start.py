"""Several processes starting together on a fresh store all start: migrations, catalogue
sync and connection set-up are idempotent and safe to run at the same moment.

Real processes (`tests/start_once.py`), held at a line until all are ready, then released
at once, on a fresh SQLite file or PostgreSQL database each round.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa

from server.catalogue import Catalogue, TicketType
from server.services import Services
from server.store.tables import ticket_inventory
from tests.process_harness import ROOT

PROCESSES = 4
ROUNDS = 5


@contextmanager
def children(env: dict[str, str], count: int) -> Iterator[list[subprocess.Popen[str]]]:
    started = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.start_once"],
            cwd=ROOT,
            env={**os.environ, **env},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    try:
        for child in started:
            assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        yield started
    finally:
        for child in started:
            if child.poll() is None:
                child.kill()
            child.wait(timeout=10)


def start_together(started: list[subprocess.Popen[str]], database_url: str) -> list[str]:
    """Every child starts on `database_url` at once; the failures' tracebacks."""
    for child in started:
        assert child.stdin is not None
        child.stdin.write(database_url + "\n")
        child.stdin.flush()
    failures = []
    for child in started:
        assert child.stdout is not None
        answer, _, detail = child.stdout.readline().strip().partition(" ")
        if answer != "started":
            failures.append(json.loads(detail) if detail else "the child died")
    return failures


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_processes_starting_together_on_a_fresh_store_all_start(
    store: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    env = {"DATA_DIR": str(tmp_path / "data"), "LOG_LEVEL": "WARNING", "MAIL_COMPOSE_PROCESSES": "0"}
    with children(env, PROCESSES) as started:
        for round_ in range(ROUNDS):
            if store == "postgres":
                url = request.getfixturevalue("postgres").new_url()
            else:
                url = f"sqlite+aiosqlite:///{tmp_path / f'fresh-{round_}.sqlite3'}"
            failures = start_together(started, url)
            assert failures == [], f"round {round_}: {len(failures)} of {PROCESSES} failed:\n{failures[0]}"


async def test_syncing_the_catalogue_again_changes_capacity_and_adds_types_never_sold(
    services: Services,
) -> None:
    database = services.database
    event = next(iter(services.catalogue.events.values()))
    first = next(iter(event.ticket_types.values()))
    row = (ticket_inventory.c.event_slug == event.slug) & (ticket_inventory.c.ticket_type == first.slug)
    await database.execute(ticket_inventory.update().where(row).values(sold=5))
    added = TicketType(slug="late-entry", name="Late Entry", price=900, currency="KES", capacity=7)
    grown = replace(first, capacity=first.capacity + 1)
    types = {**event.ticket_types, first.slug: grown, "late-entry": added}
    await Catalogue({event.slug: replace(event, ticket_types=types)}).sync_inventory(database)
    stored = {
        r["ticket_type"]: (r["capacity"], r["sold"])
        for r in await database.fetch_all(sa.select(ticket_inventory))
    }
    assert stored[first.slug] == (first.capacity + 1, 5)
    assert stored["late-entry"] == (7, 0)
