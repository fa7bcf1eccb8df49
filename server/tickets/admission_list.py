"""The admission list an offline gate judges tickets against: every paid ticket of one event,
with nothing about who bought it.

Columnar and terse, because a venue's mobile data is what fails: ticket ids joined by
commas; for each ticket a 48-bit hash of its short code (the page hashes what is typed the
same way, so the codes themselves never leave the service); its type as one character; the
check-ins so far; and the tickets let in twice. 10,000 tickets are about 205 KB gzipped
(tests/test_gate_offline_list.py measures it). Hashes are salted with the event's slug, so
two events' lists share nothing.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypedDict

import sqlalchemy as sa

from server.catalogue import Catalogue
from server.clock import iso_from_ms, now_ms
from server.store import Database
from server.store.tables import gate_double_admissions, tickets

# Ticket types as one character each: digits, then letters (an event has a handful).
TYPE_SYMBOLS = "0123456789abcdefghijklmnopqrstuvwxyz"
HASH_CHARS = 8  # 48 bits of base64url


def short_code_hash(event_slug: str, compact_short_code: str) -> str:
    """What the list holds for a short code (compact, upper case), and what the page computes
    from a typed one: base64url of SHA-256 over `slug:CODE`, first 8 characters."""
    digest = hashlib.sha256(f"{event_slug}:{compact_short_code}".encode()).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")[:HASH_CHARS]


class Admission(TypedDict):
    gate: str | None
    at: str


class DoubleAdmission(TypedDict):
    """A ticket let in twice, with every admission of it, the first one first."""

    ticket_id: str
    ticket_type: str
    admissions: list[Admission]


class TypeName(TypedDict):
    slug: str
    name: str


class AdmissionListBody(TypedDict):
    """An event's admission list as a gate keeps it for offline use (docs/API.md)."""

    event: str
    generated_at: str
    types: list[TypeName]
    ids: str
    short_hashes: str
    type_of: str
    checked_in: list[list[int | str | None]]
    doubles: list[DoubleAdmission]


@dataclass(frozen=True)
class AdmissionList:
    event_slug: str
    generated_ms: int
    type_slugs: tuple[str, ...]
    type_names: tuple[str, ...]
    ids: tuple[str, ...]
    short_hashes: tuple[str, ...]
    type_of: str
    # (index in ids, when, at which gate)
    checked_in: tuple[tuple[int, int, str | None], ...]
    doubles: tuple[DoubleAdmission, ...] = field(default=())

    def body(self) -> AdmissionListBody:
        return {
            "event": self.event_slug,
            "generated_at": iso_from_ms(self.generated_ms),
            "types": [{"slug": s, "name": n} for s, n in zip(self.type_slugs, self.type_names, strict=True)],
            "ids": ",".join(self.ids),
            "short_hashes": "".join(self.short_hashes),
            "type_of": self.type_of,
            "checked_in": [[index, at, gate] for index, at, gate in self.checked_in],
            "doubles": list(self.doubles),
        }


@dataclass(frozen=True)
class AdmissionLists:
    database: Database
    catalogue: Catalogue
    clock: Callable[[], int] = now_ms

    async def build(self, event_slug: str) -> AdmissionList:
        generated = self.clock()
        rows = await self.database.fetch_all(
            sa.select(
                tickets.c.id,
                tickets.c.ticket_type,
                tickets.c.short_code,
                tickets.c.checked_in_ms,
                tickets.c.checked_in_gate,
            )
            .where(tickets.c.event_slug == event_slug, tickets.c.code.is_not(None))
            .order_by(tickets.c.id)
        )
        event = self.catalogue.events.get(event_slug)
        slugs = list(event.ticket_types) if event is not None else []
        names = [kind.name for kind in event.ticket_types.values()] if event is not None else []
        ids, hashes, kinds, checked = [], [], [], []
        for index, row in enumerate(rows):
            ticket_id, ticket_type, short, at, gate = tuple(row)
            if ticket_type not in slugs:
                slugs.append(ticket_type)
                names.append(ticket_type)
            ids.append(ticket_id)
            # Every paid ticket has a short code (backfilled at start); a placeholder never matches.
            hashes.append(short_code_hash(event_slug, short) if short else "-" * HASH_CHARS)
            kinds.append(TYPE_SYMBOLS[slugs.index(ticket_type) % len(TYPE_SYMBOLS)])
            if at is not None:
                checked.append((index, int(at), gate))
        return AdmissionList(
            event_slug=event_slug,
            generated_ms=generated,
            type_slugs=tuple(slugs),
            type_names=tuple(names),
            ids=tuple(ids),
            short_hashes=tuple(hashes),
            type_of="".join(kinds),
            checked_in=tuple(checked),
            doubles=tuple(await self.doubles(event_slug)),
        )

    async def doubles(self, event_slug: str) -> list[DoubleAdmission]:
        """Tickets let in twice: every admission of each, the first one first."""
        rows = await self.database.fetch_all(
            sa.select(
                gate_double_admissions.c.ticket_id,
                gate_double_admissions.c.gate,
                gate_double_admissions.c.scanned_ms,
                tickets.c.ticket_type,
                tickets.c.checked_in_ms,
                tickets.c.checked_in_gate,
            )
            .join(tickets, tickets.c.id == gate_double_admissions.c.ticket_id)
            .where(gate_double_admissions.c.event_slug == event_slug)
            .order_by(gate_double_admissions.c.ticket_id, gate_double_admissions.c.scanned_ms)
        )
        found: dict[str, DoubleAdmission] = {}
        for row in rows:
            ticket_id, gate, scanned, ticket_type, first_ms, first_gate = tuple(row)
            entry = found.setdefault(
                ticket_id,
                {
                    "ticket_id": ticket_id,
                    "ticket_type": ticket_type,
                    "admissions": [{"gate": first_gate, "at": iso_from_ms(int(first_ms))}],
                },
            )
            entry["admissions"].append({"gate": gate, "at": iso_from_ms(int(scanned))})
        for entry in found.values():
            entry["admissions"].sort(key=lambda admission: admission["at"])
        return list(found.values())

    async def double_count(self, event_slug: str) -> int:
        count = await self.database.fetch_val(
            sa.select(sa.func.count(sa.distinct(gate_double_admissions.c.ticket_id))).where(
                gate_double_admissions.c.event_slug == event_slug
            )
        )
        return int(count or 0)
