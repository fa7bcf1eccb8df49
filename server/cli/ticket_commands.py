"""Command-line tools for fulfilment: `verify-ticket CODE` for the gate, `deliver-emails`
to send what the outbox holds and exit (a cron job, or after an SMTP outage).

Both read the same settings as the service (environment and `.env`), so they find the
same database, signing key and mail server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from server.catalogue import Catalogue
from server.fulfilment import build_gate, build_outbox_worker
from server.logs import configure_logging
from server.settings import Settings
from server.store import Database
from server.store.database import migrate, open_database
from server.tickets.gate import NotGenuine, TicketCheck

# Exit codes: 0 genuine / everything sent, 1 not genuine / some e-mails failed.
NOT_OK = 1


@asynccontextmanager
async def _database(settings: Settings) -> AsyncIterator[Database]:
    database = open_database(settings.database_url, busy_timeout=settings.sqlite_busy_timeout)
    await database.connect()
    try:
        await migrate(database)
        yield database
    finally:
        await database.disconnect()


def _describe(check: TicketCheck) -> str:
    body = check.body()
    checked = f"yes, at {body['checked_in_at']}" if check.checked_in_ms is not None else "no"
    return "\n".join(
        [
            "GENUINE ticket",
            f"  event:       {check.event_name} ({check.event_slug})",
            f"  ticket type: {check.ticket_type_name} ({check.ticket_type})",
            f"  ticket id:   {check.ticket_id}",
            f"  checked in:  {checked}",
        ]
    )


async def verify_ticket(settings: Settings, code: str, as_json: bool) -> int:
    async with _database(settings) as database:
        gate = build_gate(settings, database, Catalogue.load(settings.catalogue_file))
        try:
            check = await gate.verify(code)
        except NotGenuine:
            print(json.dumps({"genuine": False}) if as_json else "NOT VALID: this code is not a valid ticket")
            return NOT_OK
    print(json.dumps(check.body()) if as_json else _describe(check))
    return 0


async def deliver_emails(settings: Settings) -> int:
    async with _database(settings) as database:
        worker = build_outbox_worker(settings, database)
        try:
            # Rows waiting out a backoff go too: whoever runs this wants them tried now.
            report = await worker.deliver_due(include_waiting=True)
            pending = await worker.pending()
        finally:
            worker.close()
    print(f"sent {report.sent}, failed {report.failed}, still pending {pending}")
    return NOT_OK if report.failed else 0


def _run(
    make: Callable[[Settings, argparse.Namespace], Coroutine[Any, Any, int]],
) -> Callable[[argparse.Namespace, Settings], int]:
    """A `handler(args, settings)` for `python -m server`, which has read the settings."""

    def command(args: argparse.Namespace, settings: Settings) -> int:
        # The worker's log lines say where each e-mail went; masked like the service's.
        configure_logging(settings.log_level, settings.log_format)
        return asyncio.run(make(settings, args))

    return command


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `verify-ticket` and `deliver-emails` to `python -m server`'s subcommands."""
    verify = subparsers.add_parser(
        "verify-ticket",
        help="tell whether a ticket code is genuine, for which event, and if it was checked in",
    )
    verify.add_argument("code", help="the code read from the ticket's QR")
    verify.add_argument("--json", action="store_true", help="print the answer as JSON")
    verify.set_defaults(handler=_run(lambda settings, args: verify_ticket(settings, args.code, args.json)))
    deliver = subparsers.add_parser(
        "deliver-emails", help="send every e-mail waiting in the outbox, then exit"
    )
    deliver.set_defaults(handler=_run(lambda settings, args: deliver_emails(settings)))
