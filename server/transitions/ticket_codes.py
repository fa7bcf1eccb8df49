"""Giving an order's tickets their signed codes when it is paid: a pipeline step.

`TicketIssuer` runs inside the transaction that makes the order `completed`, so the codes
commit with the status and the published status document already carries them. A duplicate
callback never reaches it (the status UPDATE matches once), and `code IS NULL` in its own
UPDATE makes even a second run change nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ColumnElement

from server.lifecycle import COMPLETED
from server.status.signed_tickets import SIGNED_ORDER, document_ticket
from server.store import Database
from server.store.prepared import Prepared
from server.store.rows import SignedTicketRow, TicketRow
from server.store.tables import tickets
from server.tickets.codes import TicketSigner
from server.transitions.change import ChangeInProgress

log = logging.getLogger("server.tickets")


# All of the order's tickets, the unsigned ones picked here: with `code IS NULL` in the
# query, SQLite (no statistics) searched the unique index on `code` for NULL, a walk over
# every unpaid ticket in the shop, instead of the order's own few.
ORDER_TICKETS = Prepared(
    tickets.select().where(tickets.c.order_id == sa.bindparam("order_id")).order_by(*SIGNED_ORDER)
)


class OrderTicketList(ColumnElement[str]):
    """The order's tickets, listed by the completing UPDATE's RETURNING (`transition`), so
    the step signs them without reading them first: one round trip fewer per payment.

    Each is `created_ms id event_slug ticket_type` (ids and slugs hold no space or comma),
    comma-separated, in the order a status document lists them (`SIGNED_ORDER`, in the
    store's own collation); `!` for a ticket signed already, after which the step reads them
    as before. NULL: the order has no tickets. Written per store: the aggregate's name and how
    it is ordered differ (SQLite 3.40 has no ORDER BY inside an aggregate; a window has).
    Qualified by hand, as SQLAlchemy's SQLite compiler drops table names in a RETURNING list.
    """

    inherit_cache = True
    type = sa.String()


_LISTED = (
    "CASE WHEN tickets.code IS NULL THEN tickets.created_ms || ' ' || tickets.id"
    " || ' ' || tickets.event_slug || ' ' || tickets.ticket_type ELSE '!' END"
)
# `SIGNED_ORDER` within one order (its first key, the order, is the same for every ticket).
_SIGNED_ORDER_SQL = ", ".join(f"tickets.{column.name}" for column in SIGNED_ORDER[1:])


@compiles(OrderTicketList, "postgresql")
def _listed_on_postgres(element: OrderTicketList, compiler: SQLCompiler, **kw: object) -> str:
    return (
        f"(SELECT string_agg({_LISTED}, ',' ORDER BY {_SIGNED_ORDER_SQL})"
        " FROM tickets WHERE tickets.order_id = orders.id)"
    )


@compiles(OrderTicketList)  # SQLite's, and what `str()` of a statement shows
def _listed_on_sqlite(element: OrderTicketList, compiler: SQLCompiler, **kw: object) -> str:
    return (
        f"(SELECT group_concat({_LISTED}, ',') OVER (ORDER BY {_SIGNED_ORDER_SQL}"
        " ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)"
        " FROM tickets WHERE tickets.order_id = orders.id LIMIT 1)"
    )


ORDER_TICKET_LIST = OrderTicketList().label("order_tickets")


def listed_tickets(listed: str | None, order_id: str) -> list[TicketRow] | None:
    """The unsigned tickets `OrderTicketList` listed, in its order; None where one of them
    is signed already (the step reads them from the table then)."""
    if listed is None:
        return []
    rows: list[TicketRow] = []
    for entry in listed.split(","):
        if entry == "!":
            return None
        created_ms, ticket_id, event_slug, ticket_type = entry.split(" ")
        rows.append(
            TicketRow(
                id=ticket_id,
                order_id=order_id,
                event_slug=event_slug,
                ticket_type=ticket_type,
                code=None,
                checked_in_ms=None,
                created_ms=int(created_ms),
                short_code=None,
                checked_in_gate=None,
            )
        )
    return rows


_HOLDER = tickets.alias("holder")
# Returns the code only if this UPDATE wrote it: not where the ticket has a code already (a
# second run changes nothing), nor where another ticket has the short code. The check in the
# same statement: one round trip a ticket, where a SELECT before it made two.
SIGN_TICKET = Prepared(
    tickets.update()
    .where(
        tickets.c.id == sa.bindparam("ticket_id"),
        tickets.c.code.is_(None),
        ~sa.select(_HOLDER.c.id).where(_HOLDER.c.short_code == sa.bindparam("short_code")).exists(),
    )
    .values(code=sa.bindparam("code"), short_code=sa.bindparam("short_code"))
    .returning(tickets.c.code)
)
TICKET_CODE = Prepared(sa.select(tickets.c.code).where(tickets.c.id == sa.bindparam("ticket_id")))
SHORT_CODE_TAKEN = Prepared(sa.select(tickets.c.id).where(tickets.c.short_code == sa.bindparam("short_code")))
# 50 bits: a second try is needed about once in 10^9 tickets of a million-ticket shop.
SHORT_CODE_ATTEMPTS = 8


class SigningMissed(Exception):
    """A ticket's code, kept for later, was not written: its first short code is another
    ticket's, or it was signed meanwhile. The change runs again, signing carefully."""


@dataclass(frozen=True)
class TicketIssuer:
    """Signs a paid order's tickets. Each code derives from its ticket alone, so the step
    writes them all with the first short code each and keeps those statements for later:
    on PostgreSQL they go with the receipt's claim and the outbox rows in one round trip, and
    `confirm` checks each was written. Where one was not (about once in 10^9 tickets of a
    million-ticket shop), the change runs again with `careful` set: one ticket at a time,
    each short code checked before the next is tried."""

    signer: TicketSigner

    async def __call__(self, step: ChangeInProgress) -> None:
        if step.change.to_status != COMPLETED:
            return
        listed = step.order_tickets
        if step.careful or listed is None:
            await self._sign_carefully(step)
            return
        database, order_id, signer = step.database, step.order.id, self.signer
        signed: list[SignedTicketRow] = []
        for ticket in listed:
            code = signer.sign(ticket.id, ticket.event_slug, ticket.ticket_type)
            short = signer.short_code(code, 0)
            step.codes_written.append(
                await database.fetch_column_later(
                    SIGN_TICKET.bind(ticket_id=ticket.id, code=code, short_code=short)
                )
            )
            signed.append(SignedTicketRow(ticket.id, order_id, ticket.ticket_type, code, short))
        # For the e-mail and the published document: not read back.
        step.signed_tickets = [document_ticket(ticket) for ticket in signed]
        step.tickets_issued = len(signed)

    @staticmethod
    def confirm(step: ChangeInProgress) -> None:
        """Once the kept statements are sent: every code was written, or `SigningMissed`."""
        if any(written.first is None for written in step.codes_written):
            raise SigningMissed(f"order {step.order.id}: a ticket's kept code was not written")

    async def _sign_carefully(self, step: ChangeInProgress) -> None:
        database, order_id = step.database, step.order.id
        signed: list[SignedTicketRow] = []
        issued = 0
        all_known = True
        listed = step.order_tickets
        for ticket in listed if listed is not None else await self._read(database, order_id):
            code, short = ticket.code, ticket.short_code
            if code is None:
                code, short = await self._sign(database, ticket)
                issued += 1
            if code is None:
                # Signed meanwhile by someone else, with a code not known here.
                all_known = False
                continue
            signed.append(SignedTicketRow(ticket.id, order_id, ticket.ticket_type, code, short))
        if all_known:
            # For the e-mail and the published document: not read back.
            step.signed_tickets = [document_ticket(ticket) for ticket in signed]
        step.tickets_issued = issued

    @staticmethod
    async def _read(database: Database, order_id: str) -> list[TicketRow]:
        rows = await database.fetch_all(ORDER_TICKETS.bind(order_id=order_id))
        return [TicketRow.from_mapping(row) for row in rows]

    async def _sign(self, database: Database, ticket: TicketRow) -> tuple[str | None, str]:
        """The code and short code written on `ticket`; no code where another signer wrote
        one first (`code IS NULL` matched nothing)."""
        code = self.signer.sign(ticket.id, ticket.event_slug, ticket.ticket_type)
        for attempt in range(SHORT_CODE_ATTEMPTS):
            short = self.signer.short_code(code, attempt)
            written = await database.fetch_val(
                SIGN_TICKET.bind(ticket_id=ticket.id, code=code, short_code=short)
            )
            if written is not None:
                return str(written), short
            if await database.fetch_val(TICKET_CODE.bind(ticket_id=ticket.id)) is not None:
                return None, short  # signed meanwhile, not by this UPDATE
            # Another ticket holds this short code: the next one derived from the code.
        raise RuntimeError("no free short code after several attempts: the shop holds too many tickets")


async def free_short_code(database: Database, signer: TicketSigner, code: str) -> str:
    """The first short code derived from `code` that no other ticket has."""
    for attempt in range(SHORT_CODE_ATTEMPTS):
        short = signer.short_code(code, attempt)
        if await database.fetch_val(SHORT_CODE_TAKEN.bind(short_code=short)) is None:
            return short
    raise RuntimeError("no free short code after several attempts: the shop holds too many tickets")


async def backfill_short_codes(database: Database, signer: TicketSigner) -> int:
    """Give tickets signed before short codes existed (migration 5) theirs; run at start.
    Idempotent and safe from several processes: the code derives from the ticket's own."""
    rows = await database.fetch_all(
        sa.select(tickets.c.id, tickets.c.code).where(
            tickets.c.code.is_not(None), tickets.c.short_code.is_(None)
        )
    )
    for row in rows:
        short = await free_short_code(database, signer, row["code"])
        await database.execute(
            tickets.update()
            .where(tickets.c.id == row["id"], tickets.c.short_code.is_(None))
            .values(short_code=short)
        )
    if rows:
        log.info("short gate codes given to %d tickets signed before them", len(rows))
    return len(rows)
