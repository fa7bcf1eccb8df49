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
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from databases import Database
from sqlalchemy.dialects import postgresql, sqlite

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
    # Optional: only the calendar file uses it (an event with none ends when it starts).
    ends_at: str = ""

    @cached_property
    def summary(self) -> dict[str, str]:
        """The status document's `event`: built once per event, shared by every document."""
        return {
            "slug": self.slug,
            "name": self.name,
            "starts_at": self.starts_at,
            "timezone": self.timezone,
            "venue": self.venue,
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


class Catalogue:
    def __init__(self, events: dict[str, Event]) -> None:
        self.events = events

    @classmethod
    def load(cls, path: Path) -> Catalogue:
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
                events[item["slug"]] = Event(
                    slug=str(item["slug"]),
                    name=str(item["name"]),
                    starts_at=_moment(str(item["starts_at"])),
                    venue=str(item.get("venue", "")),
                    ticket_types=types,
                    timezone=_timezone(str(item.get("timezone", DEFAULT_TIMEZONE))),
                    ends_at=_moment(str(item.get("ends_at", ""))),
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

    async def listing(self, database: Database) -> list[dict[str, Any]]:
        """`GET /api/events`: what is on sale and how many seats are left."""
        rows = await database.fetch_all(sa.select(ticket_inventory))
        left = {
            (m["event_slug"], m["ticket_type"]): max(0, m["capacity"] - m["sold"])
            for m in (r._mapping for r in rows)
        }
        return [
            {
                "slug": event.slug,
                "name": event.name,
                "starts_at": event.starts_at,
                "timezone": event.timezone,
                "venue": event.venue,
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
