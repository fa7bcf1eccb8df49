"""`python -m server list-callbacks` and `replay-callback`: the stored PayHero callbacks.

Every callback body is stored as received before it is applied (DESIGN rule 6), and marked
with what applying it did. Replaying one applies the stored body again through the same
code as the webhook: idempotent, so a callback already applied comes back `duplicate`. The
original row keeps its outcome and time; the replay is a new row beside it (`replay_of`),
except for a row never applied at all, which is applied in place. Run
it against the service's own DATABASE_URL and REDIS_URL: the change is committed, then
published, so waiting browsers hear of it at once (through Redis), or within the safety
net's interval (without Redis), and e-mails go out through the outbox as for any payment.

Typical use: a callback held for review (`review: unverified`, `review: unknown_order`) once
PayHero or the order has been put right.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any, Required, TypedDict

import sqlalchemy as sa

from server.app import open_services
from server.clock import iso_from_ms
from server.logs import configure_logging
from server.payhero.callback_parser import CallbackInvalid
from server.services import Services
from server.settings import Settings
from server.store.tables import payhero_callbacks as inbox


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    listing = subparsers.add_parser("list-callbacks", help="stored PayHero callbacks, newest first")
    listing.add_argument(
        "--outcome", help="outcomes starting with this: review, ignored, invalid, applied..."
    )
    listing.add_argument("--unprocessed", action="store_true", help="only those never applied")
    listing.add_argument("--limit", type=int, default=50)
    listing.set_defaults(handler=run_list)
    replay = subparsers.add_parser("replay-callback", help="apply stored PayHero callbacks again")
    replay.add_argument("ids", nargs="*", type=int, metavar="ID", help="ids from list-callbacks")
    replay.add_argument("--unprocessed", action="store_true", help="every callback never applied")
    replay.set_defaults(handler=run_replay)


class CallbackListed(TypedDict):
    """A `list-callbacks` line (no body: it carries the customer's phone number)."""

    id: int
    received_at: str
    outcome: str | None
    order_id: str | None
    processed_at: str | None
    replay_of: int | None


class CallbackReplayed(TypedDict, total=False):
    """A `replay-callback` line: `error` when no callback has the id; else the webhook's own
    answer (`ok` … `review`, CallbackAnswer) or `invalid`, and the outcome recorded."""

    id: Required[int]
    error: str
    replay_id: int
    ok: bool
    order_id: str | None
    payment_status: str | None
    ignored: str
    review: str
    invalid: str
    outcome: str | None


def _row(mapping: Any) -> CallbackListed:
    # No body: it carries the customer's phone number. `list-callbacks` is for finding ids.
    return {
        "id": mapping["id"],
        "received_at": iso_from_ms(mapping["received_ms"]),
        "outcome": mapping["outcome"],
        "order_id": mapping["order_id"],
        "processed_at": iso_from_ms(mapping["processed_ms"]) if mapping["processed_ms"] else None,
        "replay_of": mapping["replay_of"],
    }


async def list_callbacks(
    services: Services, outcome: str | None, unprocessed: bool, limit: int
) -> list[CallbackListed]:
    query = sa.select(
        inbox.c.id,
        inbox.c.received_ms,
        inbox.c.outcome,
        inbox.c.order_id,
        inbox.c.processed_ms,
        inbox.c.replay_of,
    )
    if unprocessed:
        query = query.where(inbox.c.processed_ms.is_(None))
    if outcome:
        # Not LIKE: the `databases` SQLite backend %-formats the SQL, and LIKE's pattern has a %.
        query = query.where(sa.func.substr(inbox.c.outcome, 1, len(outcome)) == outcome)
    rows = await services.database.fetch_all(query.order_by(inbox.c.id.desc()).limit(limit))
    return [_row(row) for row in rows]


async def replay(services: Services, ids: list[int]) -> tuple[list[CallbackReplayed], bool]:
    """Apply each stored callback again; (one line per id, whether every id was found)."""
    lines: list[CallbackReplayed] = []
    all_found = True
    for inbox_id in ids:
        row = await services.database.fetch_one(
            sa.select(inbox.c.body, inbox.c.processed_ms).where(inbox.c.id == inbox_id)
        )
        if row is None:
            lines.append({"id": inbox_id, "error": "no stored callback has this id"})
            all_found = False
            continue
        body, processed = bytes(row["body"]), row["processed_ms"]
        recorded = inbox_id
        line: CallbackReplayed = {"id": inbox_id}
        try:
            if processed is None:  # never applied: nothing recorded yet to keep
                outcome = await services.callbacks.apply_stored(inbox_id, body)
            else:
                recorded, outcome = await services.callbacks.replay(inbox_id, body)
                line["replay_id"] = recorded
            line = {**line, **outcome.body()}
        except CallbackInvalid as exc:
            line["invalid"] = str(exc)
        # What it did, as recorded: applied, duplicate, ignored: <why>, review: <why>, invalid: <why>.
        line["outcome"] = await services.database.fetch_val(
            sa.select(inbox.c.outcome).where(inbox.c.id == recorded)
        )
        lines.append(line)
    return lines, all_found


async def _unprocessed_ids(services: Services) -> list[int]:
    rows = await services.database.fetch_all(
        sa.select(inbox.c.id).where(inbox.c.processed_ms.is_(None)).order_by(inbox.c.id)
    )
    return [int(row["id"]) for row in rows]


def _print(lines: list[CallbackListed] | list[CallbackReplayed]) -> None:
    for line in lines:
        print(json.dumps(line))


def _logging(settings: Settings) -> None:
    # Log lines to stderr, as the service writes them; stdout is for the JSON lines.
    configure_logging(settings.log_level, settings.log_format, secrets=settings.secret_values())


def run_list(args: argparse.Namespace, settings: Settings) -> int:
    async def go() -> int:
        async with open_services(settings) as services:
            _print(await list_callbacks(services, args.outcome, args.unprocessed, args.limit))
        return 0

    _logging(settings)
    return asyncio.run(go())


def run_replay(args: argparse.Namespace, settings: Settings) -> int:
    if not args.ids and not args.unprocessed:
        print("give callback ids (see list-callbacks) or --unprocessed", file=sys.stderr)
        return 2

    async def go() -> int:
        async with open_services(settings) as services:
            ids = list(args.ids) + (await _unprocessed_ids(services) if args.unprocessed else [])
            lines, all_found = await replay(services, ids)
        _print(lines)
        return 0 if all_found else 1

    _logging(settings)
    return asyncio.run(go())
