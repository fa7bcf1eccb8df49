"""Events and ticket types on sale, loaded at start from a data file in the repo.

Prices and names come from the file; seats sold live in the database (`ticket_inventory`)
so capacity holds across processes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TypedDict
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from server.sales_window import ROLLS, YEARLY, now_utc, rolled_forward
from server.store import Database
from server.store.database import is_postgres
from server.store.tables import ticket_inventory


class CatalogueError(ValueError):
    pass


# Events are sold in Kenya: an event that names no timezone is on Nairobi time.
DEFAULT_TIMEZONE = "Africa/Nairobi"


@dataclass(frozen=True)
class TicketType:
    slug: str
    name: str
    price: int
    currency: str
    capacity: int


@dataclass(frozen=True)
class Event:
    slug: str
    name: str
    starts_at: str
    venue: str
    ticket_types: dict[str, TicketType]
    timezone: str = DEFAULT_TIMEZONE
    # Optional: the calendar file and the ticket page's "this event has ended" use it (an
    # event with none ends when it starts).
    ends_at: str = ""
    # Optional: when checkout stops taking orders (server/sales_window.py); default: the start.
    sales_end: str = ""

    @property
    def sales_end_at(self) -> datetime:
        return datetime.fromisoformat(self.sales_end or self.starts_at)

    @property
    def ended_at(self) -> str:
        return self.ends_at or self.starts_at

    def on_sale(self, now: datetime) -> bool:
        return now < self.sales_end_at

    @cached_property
    def summary(self) -> dict[str, str]:
        """The status document's `event`: built once per event, shared by every document."""
        return {
            "slug": self.slug,
            "name": self.name,
            "starts_at": self.starts_at,
            "timezone": self.timezone,
            "venue": self.venue,
            "ends_at": self.ended_at,
        }

    def ticket_type_name(self, slug: str) -> str:
        found = self.ticket_types.get(slug)
        return found.name if found is not None else slug


def _timezone(name: str) -> str:
    # Checked at start: the pages, e-mails and calendar file all show times in it.
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown timezone {name!r}") from exc
    return name


def _moment(text: str) -> str:
    # An ISO 8601 time with its UTC offset, or nothing: the calendar file converts it to UTC.
    if text and datetime.fromisoformat(text).utcoffset() is None:
        raise ValueError(f"{text!r} has no UTC offset")
    return text


class TicketTypeListed(TypedDict):
    slug: str
    name: str
    price: int
    currency: str
    available: int  # seats left now


class EventListed(TypedDict):
    """An event as `GET /api/events` lists it (docs/API.md)."""

    slug: str
    name: str
    starts_at: str
    timezone: str
    venue: str
    ends_at: str
    sales_end: str
    on_sale: bool
    ticket_types: list[TicketTypeListed]


class Catalogue:
    def __init__(self, events: dict[str, Event]) -> None:
        self.events = events

    @classmethod
    def load(cls, path: Path, now: datetime | None = None) -> Catalogue:
        """The catalogue in `path`; a yearly event is moved to its next year on sale at `now`."""
        now = now or now_utc()
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            events = {}
            for item in raw["events"]:
                types = {
                    t["slug"]: TicketType(
                        slug=str(t["slug"]),
                        name=str(t["name"]),
                        price=int(t["price"]),
                        currency=str(t.get("currency", "KES")),
                        capacity=int(t["capacity"]),
                    )
                    for t in item["ticket_types"]
                }
                starts_at = _moment(str(item["starts_at"]))
                ends_at = _moment(str(item.get("ends_at", "")))
                sales_end = _moment(str(item.get("sales_end", "")))
                rolls = str(item.get("rolls", ""))
                if rolls not in ROLLS:
                    raise ValueError(f"rolls must be one of {ROLLS}, not {rolls!r}")
                if rolls == YEARLY:
                    starts_at, ends_at, sales_end = rolled_forward(starts_at, ends_at, sales_end, now)
                events[item["slug"]] = Event(
                    slug=str(item["slug"]),
                    name=str(item["name"]),
                    starts_at=starts_at,
                    venue=str(item.get("venue", "")),
                    ticket_types=types,
                    timezone=_timezone(str(item.get("timezone", DEFAULT_TIMEZONE))),
                    ends_at=ends_at,
                    sales_end=sales_end,
                )
        except (OSError, KeyError, TypeError, ValueError) as exc:
            raise CatalogueError(f"catalogue {path} is not valid: {exc}") from exc
        return cls(events)

    def find(self, event_slug: str, ticket_slug: str) -> tuple[Event, TicketType] | None:
        event = self.events.get(event_slug)
        if event is None or ticket_slug not in event.ticket_types:
            return None
        return event, event.ticket_types[ticket_slug]

    async def sync_inventory(self, database: Database) -> None:
        """Create missing inventory rows and apply capacity changes; never touch `sold`.

        One upsert per ticket type, so that processes starting together on a fresh store
        (or after a ticket type is added) cannot collide: an UPDATE-then-INSERT did, and
        stopped one start in ten on SQLite, one in eight on PostgreSQL.
        """
        insert = postgresql.insert if is_postgres(database) else sqlite.insert
        for event in self.events.values():
            for ticket in event.ticket_types.values():
                statement = insert(ticket_inventory).values(
                    event_slug=event.slug, ticket_type=ticket.slug, capacity=ticket.capacity, sold=0
                )
                await database.execute(
                    statement.on_conflict_do_update(
                        index_elements=[ticket_inventory.c.event_slug, ticket_inventory.c.ticket_type],
                        set_={"capacity": statement.excluded.capacity},
                    )
                )

    async def listing(self, database: Database, now: datetime | None = None) -> list[EventListed]:
        """`GET /api/events`: every event, whether it is on sale, and how many seats are left."""
        now = now or now_utc()
        rows = await database.fetch_all(sa.select(ticket_inventory))
        left = {(m["event_slug"], m["ticket_type"]): max(0, m["capacity"] - m["sold"]) for m in rows}
        return [
            {
                "slug": event.slug,
                "name": event.name,
                "starts_at": event.starts_at,
                "timezone": event.timezone,
                "venue": event.venue,
                "ends_at": event.ended_at,
                "sales_end": event.sales_end_at.isoformat(),
                "on_sale": event.on_sale(now),
                "ticket_types": [
                    {
                        "slug": t.slug,
                        "name": t.name,
                        "price": t.price,
                        "currency": t.currency,
                        "available": left.get((event.slug, t.slug), 0),
                    }
                    for t in event.ticket_types.values()
                ],
            }
            for event in self.events.values()
        ]
