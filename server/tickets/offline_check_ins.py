"""Check-ins an offline gate queued, sent when it is back online: each with the time it was
scanned and the gate that scanned it.

The gate let each of these people in while it could not ask the service. So a ticket that
another door had already checked in was let in twice: that is recorded
(`gate_double_admissions`), answered to this gate, shown to every gate with the next
admission list, and counted on /metrics. A queued code that is not a ticket, or one scanned
after the event closed, is answered as such: the person is in, but the attendant is told.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypedDict

import sqlalchemy as sa

from server.clock import iso_from_ms, now_ms
from server.store import Database
from server.store.tables import gate_double_admissions
from server.tickets.gate import AlreadyCheckedIn, EventOver, Gate, NotGenuine, TicketCheckBody

log = logging.getLogger("server.tickets")

MAX_BATCH = 500


@dataclass(frozen=True)
class QueuedCheckIn:
    code: str
    scanned_ms: int


class AdmissionAt(TypedDict):
    gate: str | None
    at: str | None


class AdmittedTwiceBody(TicketCheckBody):
    """A ticket a queued scan let in again: both admissions, the first one first."""

    admissions: list[AdmissionAt]


class QueuedOutcomeBody(TypedDict):
    result: str
    ticket: TicketCheckBody | AdmittedTwiceBody | None


@dataclass(frozen=True)
class QueuedOutcome:
    result: str  # "admitted", "admitted_twice", "not_valid", "event_over"
    ticket: TicketCheckBody | AdmittedTwiceBody | None = None
    event_slug: str | None = None

    def body(self) -> QueuedOutcomeBody:
        return {"result": self.result, "ticket": self.ticket}


@dataclass
class OfflineCheckIns:
    gate: Gate
    database: Database
    clock: Callable[[], int] = now_ms
    # Read by /metrics: tickets found let in twice by this process.
    admitted_twice: int = 0

    async def record(self, item: QueuedCheckIn, gate_name: str | None) -> QueuedOutcome:
        """One queued check-in; the caller counts it against the gate limits first."""
        # A phone's clock may run ahead: never record a check-in in the future.
        return await self._one(item.code, min(item.scanned_ms, self.clock()), gate_name)

    async def _one(self, code: str, scanned_ms: int, gate_name: str | None) -> QueuedOutcome:
        try:
            check = await self.gate.check_in(code, gate_name, scanned_ms=scanned_ms)
        except NotGenuine:
            return QueuedOutcome("not_valid")
        except EventOver as exc:
            return QueuedOutcome("event_over", exc.check.body(), exc.check.event_slug)
        except AlreadyCheckedIn as exc:
            first = exc.check
            if first.checked_in_ms == scanned_ms and first.checked_in_gate == gate_name:
                # This very scan, sent again (the answer to an earlier send was lost).
                return QueuedOutcome("admitted", first.body(), first.event_slug)
            inserted = await self._record_double(first.ticket_id, first.event_slug, gate_name, scanned_ms)
            if inserted:
                self.admitted_twice += 1
                log.warning(
                    "ticket admitted twice ticket=%s first_gate=%s gate=%s",
                    first.ticket_id,
                    first.checked_in_gate,
                    gate_name,
                )
            body: AdmittedTwiceBody = {
                **first.body(),
                "admissions": sorted(
                    [
                        {"gate": first.checked_in_gate, "at": first.body()["checked_in_at"]},
                        {"gate": gate_name, "at": iso_from_ms(scanned_ms)},
                    ],
                    key=lambda admission: str(admission["at"]),
                ),
            }
            return QueuedOutcome("admitted_twice", body, first.event_slug)
        return QueuedOutcome("admitted", check.body(), check.event_slug)

    async def _record_double(
        self, ticket_id: str, event_slug: str, gate: str | None, scanned_ms: int
    ) -> bool:
        """Once per scan: a queue sent twice records its doubles once."""
        exists = await self.database.fetch_val(
            sa.select(sa.func.count()).where(
                gate_double_admissions.c.ticket_id == ticket_id,
                gate_double_admissions.c.scanned_ms == scanned_ms,
                (gate_double_admissions.c.gate == gate)
                if gate is not None
                else gate_double_admissions.c.gate.is_(None),
            )
        )
        if exists:
            return False
        await self.database.execute(
            gate_double_admissions.insert().values(
                ticket_id=ticket_id,
                event_slug=event_slug,
                gate=gate,
                scanned_ms=scanned_ms,
                recorded_ms=self.clock(),
            )
        )
        return True
