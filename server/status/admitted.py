"""Who is in, live: "412 of 2,500 in" per event (and per ticket type) for every gate device.

A check-in commits, then its event's count is read from the store and published on the
event's channel through the hub's one broker connection, as a payment's status is (DESIGN
rules 1 and 4). Every process holding a gate stream for that event hears it and hands it to
its streams. A count only grows (a check-in is never undone, a paid ticket never unpaid),
so of two counts the larger is the newer: one arriving late, from a slower door, is dropped.
The store stays the truth: a stream reads it after subscribing (rule 2), and every holder
re-reads it when the broker's stream comes back.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypedDict

import sqlalchemy as sa

from server.catalogue import Catalogue
from server.clock import iso_from_ms, now_ms
from server.status.hub import StatusHub
from server.store import Database
from server.store.tables import gate_double_admissions, tickets

log = logging.getLogger("server.admitted")

ADMITTED_CHANNEL_PREFIX = "gate:admitted:"


def channel_namespace(signing_key: str) -> str:
    """A name for this deployment's channels, derived from its ticket signing key: event slugs
    repeat between deployments (and tests) that share a Redis, and their counts must not mix.
    Processes of one deployment share the key (they verify each other's tickets)."""
    return hashlib.sha256(b"admitted-channel\n" + signing_key.encode("utf-8")).hexdigest()[:16]


class TypeCountBody(TypedDict):
    slug: str
    name: str
    admitted: int
    tickets: int


class AdmittedBody(TypedDict):
    """Who is in, as the gate's and the desk's streams send it (docs/API.md)."""

    event: str
    admitted: int
    tickets: int
    types: list[TypeCountBody]
    counted_at: str
    doubles: int


@dataclass(frozen=True)
class TypeCount:
    slug: str
    name: str
    admitted: int
    tickets: int


@dataclass(frozen=True)
class AdmittedCount:
    """One event's count: paid tickets, and how many of them are in."""

    event_slug: str
    admitted: int
    tickets: int
    types: tuple[TypeCount, ...]
    counted_ms: int
    # Tickets let in twice (by a gate that was offline): a gate fetches the list when it grows.
    doubles: int = 0

    def newer_than(self, other: AdmittedCount | None) -> bool:
        mine = (self.admitted, self.tickets, self.doubles)
        return other is None or mine > (other.admitted, other.tickets, other.doubles)

    def body(self) -> AdmittedBody:
        return {
            "event": self.event_slug,
            "admitted": self.admitted,
            "tickets": self.tickets,
            "types": [
                {"slug": t.slug, "name": t.name, "admitted": t.admitted, "tickets": t.tickets}
                for t in self.types
            ],
            "counted_at": iso_from_ms(self.counted_ms),
            "doubles": self.doubles,
        }

    def json(self) -> str:
        return json.dumps(self.body(), separators=(",", ":"))

    @classmethod
    def from_json(cls, message: str) -> AdmittedCount:
        try:
            raw = json.loads(message)
            return cls(
                event_slug=str(raw["event"]),
                admitted=int(raw["admitted"]),
                tickets=int(raw["tickets"]),
                types=tuple(
                    TypeCount(str(t["slug"]), str(t["name"]), int(t["admitted"]), int(t["tickets"]))
                    for t in raw["types"]
                ),
                counted_ms=now_ms(),
                doubles=int(raw.get("doubles", 0)),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"not a count: {exc}") from exc


class CountWatch:
    """One gate stream's view of an event's count: the newest it has not yet sent."""

    def __init__(self, owner: AdmittedCounts, event_slug: str) -> None:
        self.owner = owner
        self.event_slug = event_slug
        self.sent: AdmittedCount | None = None
        self.ended = False
        self._changed = asyncio.Event()

    def offer(self, count: AdmittedCount) -> None:
        if count.newer_than(self.sent):
            self._changed.set()

    def end(self) -> None:
        self.ended = True
        self._changed.set()

    async def next(self, timeout: float) -> AdmittedCount | None:
        """The next newer count, or None at `timeout` (time for a keep-alive) or the end."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._changed.wait()
        self._changed.clear()
        latest = self.owner.latest(self.event_slug)
        if self.ended or latest is None or not latest.newer_than(self.sent):
            return None
        self.sent = latest
        return latest

    def close(self) -> None:
        self.owner._leave(self)


class AdmittedCounts:
    """Who is in, per event: read from the store after a check-in commits, published on the hub."""

    def __init__(self, hub: StatusHub, database: Database, catalogue: Catalogue, namespace: str) -> None:
        self.hub = hub
        self.prefix = f"{ADMITTED_CHANNEL_PREFIX}{namespace}:"
        self.database = database
        self.catalogue = catalogue
        self._latest: dict[str, AdmittedCount] = {}
        self._watches: dict[str, list[CountWatch]] = {}
        # An event whose count is being read and published, and whether another check-in
        # landed meanwhile: a burst of check-ins costs two reads, not one each.
        self._announcing: dict[str, bool] = {}
        self._background: set[asyncio.Task[None]] = set()
        hub.attach(self.prefix, self)

    def channel(self, event_slug: str) -> str:
        return self.prefix + event_slug

    def latest(self, event_slug: str) -> AdmittedCount | None:
        return self._latest.get(event_slug)

    async def read(self, event_slug: str) -> AdmittedCount:
        """The event's count from the store, the truth."""
        rows = await self.database.fetch_all(
            sa.select(tickets.c.ticket_type, sa.func.count(), sa.func.count(tickets.c.checked_in_ms))
            .where(tickets.c.event_slug == event_slug, tickets.c.code.is_not(None))
            .group_by(tickets.c.ticket_type)
        )
        found = {str(row[0]): (int(row[2]), int(row[1])) for row in rows}
        event = self.catalogue.events.get(event_slug)
        kinds = event.ticket_types if event is not None else {}
        types = [TypeCount(slug, kind.name, *found.pop(slug, (0, 0))) for slug, kind in kinds.items()] + [
            TypeCount(slug, slug, admitted, total) for slug, (admitted, total) in sorted(found.items())
        ]
        doubles = await self.database.fetch_val(
            sa.select(sa.func.count(sa.distinct(gate_double_admissions.c.ticket_id))).where(
                gate_double_admissions.c.event_slug == event_slug
            )
        )
        return AdmittedCount(
            event_slug=event_slug,
            admitted=sum(t.admitted for t in types),
            tickets=sum(t.tickets for t in types),
            types=tuple(types),
            counted_ms=now_ms(),
            doubles=int(doubles or 0),
        )

    async def watch(self, event_slug: str) -> CountWatch:
        """Register, then return once the broker has the event's channel: read after."""
        watch = CountWatch(self, event_slug)
        self._watches.setdefault(event_slug, []).append(watch)
        try:
            await self.hub.hold(self.channel(event_slug))
        except BaseException:
            self._drop(watch)
            raise
        return watch

    def _drop(self, watch: CountWatch) -> bool:
        watches = self._watches.get(watch.event_slug, [])
        if watch not in watches:
            return False
        watches.remove(watch)
        if not watches:
            del self._watches[watch.event_slug]
        return True

    def _leave(self, watch: CountWatch) -> None:
        if self._drop(watch):
            self.hub.release(self.channel(watch.event_slug))

    def take(self, count: AdmittedCount) -> None:
        """A count from the store or the broker: kept and handed on if it is newer."""
        if not count.newer_than(self._latest.get(count.event_slug)):
            return
        self._latest[count.event_slug] = count
        for watch in list(self._watches.get(count.event_slug, ())):
            watch.offer(count)

    def announce_soon(self, event_slug: str) -> None:
        """`announce` without holding up the check-in's answer to the door."""
        self._spawn(self.announce(event_slug))

    async def announce(self, event_slug: str) -> None:
        """After a check-in has committed: count, tell this process's streams, publish.
        Never raises: the check-in stands whatever happens to its announcement."""
        if event_slug in self._announcing:
            self._announcing[event_slug] = True
            return
        self._announcing[event_slug] = False
        try:
            while True:
                count = await self.read(event_slug)
                self.take(count)
                await self.hub.publish_side(self.channel(event_slug), count.json())
                if not self._announcing[event_slug]:
                    break
                self._announcing[event_slug] = False
        except Exception:
            log.exception("could not announce the count of event=%s", event_slug)
        finally:
            del self._announcing[event_slug]

    # SideListener
    def deliver(self, channel: str, message: str) -> None:
        try:
            count = AdmittedCount.from_json(message)
        except ValueError:
            log.warning("ignored a malformed count on %s", channel)
            return
        if channel != self.channel(count.event_slug):
            log.warning("ignored a count for %s on %s", count.event_slug, channel)
            return
        self.take(count)

    # SideListener: counts may have been missed while the broker was away.
    def resync(self) -> None:
        for event_slug in list(self._watches):
            self._spawn(self._reread(event_slug))

    # SideListener
    def drain(self) -> None:
        for watches in list(self._watches.values()):
            for watch in list(watches):
                watch.end()

    async def _reread(self, event_slug: str) -> None:
        try:
            self.take(await self.read(event_slug))
        except Exception:
            log.exception("could not re-read the count of event=%s", event_slug)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
