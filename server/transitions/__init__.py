"""The write side: one status change and its pipeline of named steps (seats, ticket
codes, outbox rows in the transaction; publishing and waking the outbox after it)."""

from __future__ import annotations

from server.transitions.change import Change, OrderNotFound
from server.transitions.changes import StatusChanges
from server.transitions.pipeline import payment_pipeline
from server.transitions.seats import reserve
from server.transitions.ticket_codes import backfill_short_codes

__all__ = [
    "Change",
    "OrderNotFound",
    "StatusChanges",
    "backfill_short_codes",
    "payment_pipeline",
    "reserve",
]
