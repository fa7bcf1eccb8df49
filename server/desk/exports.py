"""CSV exports, streamed a page at a time: a 50,000-row export never holds more than one
page of rows in memory (bench/desk_export.py measures it; docs/BENCHMARKS.md).

Pages are read by keyset (the last row's sort key), not OFFSET: each page costs the same
however deep into the export it is, and rows paid meanwhile neither repeat nor go missing
before the export's end.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from server.catalogue import Catalogue
from server.clock import iso_from_ms
from server.lifecycle import COMPLETED
from server.store import Database, ResultRow
from server.store.tables import orders, tickets

PAGE = 500

ATTENDEE_HEADER = ("order_number", "holder", "event", "ticket_type", "ticket_code", "checked_in_at")
PAYMENT_HEADER = ("order_number", "amount", "currency", "receipt_number", "paid_at", "status")


def _line(values: Sequence[object]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(["" if v is None else _safe(v) for v in values])
    return out.getvalue()


def _safe(value: object) -> str:
    # A cell a spreadsheet would run as a formula (a name typed as "=HYPERLINK(...)") is
    # written as text: CSV injection (OWASP).
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def local_time(ms: int, timezone: str) -> str:
    """`2026-12-12 19:04:05 EAT`: the event's own clock, as an organiser reads it."""
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC).astimezone(ZoneInfo(timezone))
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z")


async def _pages(database: Database, query: Any, keys: tuple[Any, Any]) -> AsyncIterator[list[ResultRow]]:
    last: tuple[Any, Any] | None = None
    while True:
        page_query = query
        if last is not None:
            page_query = query.where(sa.tuple_(*keys) > sa.tuple_(*(sa.literal(v) for v in last)))
        rows = await database.fetch_all(page_query.order_by(*keys).limit(PAGE))
        if not rows:
            return
        yield rows
        if len(rows) < PAGE:
            return
        last = (rows[-1]["sort_ms"], rows[-1]["sort_id"])


async def attendees_csv(database: Database, catalogue: Catalogue) -> AsyncIterator[str]:
    """Every paid ticket as CSV lines, a page of rows at a time (keyset-paged, never all in memory)."""
    yield _line(ATTENDEE_HEADER)
    query = (
        sa.select(
            tickets.c.created_ms.label("sort_ms"),
            tickets.c.id.label("sort_id"),
            tickets.c.event_slug,
            tickets.c.ticket_type,
            tickets.c.code,
            tickets.c.checked_in_ms,
            orders.c.order_number,
            orders.c.first_name,
            orders.c.last_name,
        )
        .select_from(tickets.join(orders, orders.c.id == tickets.c.order_id))
        .where(tickets.c.code.is_not(None))
    )
    async for page in _pages(database, query, (tickets.c.created_ms, tickets.c.id)):
        chunk = []
        for m in page:
            event = catalogue.events.get(m["event_slug"])
            checked = m["checked_in_ms"]
            chunk.append(
                _line(
                    (
                        m["order_number"],
                        " ".join(p for p in (m["first_name"], m["last_name"]) if p),
                        event.name if event else m["event_slug"],
                        event.ticket_type_name(m["ticket_type"]) if event else m["ticket_type"],
                        m["code"],
                        local_time(checked, event.timezone)
                        if checked and event
                        else (iso_from_ms(checked) if checked else ""),
                    )
                )
            )
        yield "".join(chunk)


async def payments_csv(database: Database, catalogue: Catalogue) -> AsyncIterator[str]:
    """Every order's payment as CSV lines, a page of rows at a time, times in the event's zone."""
    yield _line(PAYMENT_HEADER)
    query = sa.select(
        orders.c.created_ms.label("sort_ms"),
        orders.c.id.label("sort_id"),
        orders.c.order_number,
        orders.c.event_slug,
        orders.c.amount,
        orders.c.currency,
        orders.c.receipt_number,
        orders.c.payment_status,
        orders.c.updated_ms,
    )
    async for page in _pages(database, query, (orders.c.created_ms, orders.c.id)):
        chunk = []
        for m in page:
            event = catalogue.events.get(m["event_slug"] or "")
            paid = m["payment_status"] == COMPLETED
            paid_at = ""
            if paid:
                paid_at = (
                    local_time(m["updated_ms"], event.timezone) if event else iso_from_ms(m["updated_ms"])
                )
            chunk.append(
                _line(
                    (
                        m["order_number"],
                        m["amount"],
                        m["currency"],
                        m["receipt_number"],
                        paid_at,
                        m["payment_status"],
                    )
                )
            )
        yield "".join(chunk)
