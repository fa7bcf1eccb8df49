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


@dataclass(frozen=True)
class TicketIssuer:
    signer: TicketSigner

    async def __call__(self, step: ChangeInProgress) -> None:
        if step.change.to_status != COMPLETED:
            return
        database, order_id = step.database, step.order.id
        signed: list[SignedTicketRow] = []
        issued = 0
        all_known = True
        for row in await database.fetch_all(ORDER_TICKETS.bind(order_id=order_id)):
            ticket = TicketRow.from_mapping(row)
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
        if issued:
            log.info("tickets issued order=%s count=%d", order_id, issued)

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
