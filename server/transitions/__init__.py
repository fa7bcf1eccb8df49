"""The write side: one status change and its pipeline of named steps (seats, ticket
codes, outbox rows, the applied callback's mark in the transaction; publishing and waking
the outbox after it)."""

from __future__ import annotations

from server.transitions.action_rows import action_row
from server.transitions.callback_rows import (
    APPLIED,
    MARK_CALLBACK,
    NOTE_RESULT,
    mark_callback,
    note_push_result,
)
from server.transitions.change import ActedBy, Change, ChangeFields, FromCallback, NewOrder, OrderNotFound
from server.transitions.changes import StatusChanges
from server.transitions.outbox_rows import enqueue, letter_fields
from server.transitions.pipeline import payment_pipeline
from server.transitions.receipts import ReceiptTaken, receipt_owner
from server.transitions.seats import reserve
from server.transitions.ticket_codes import TICKET_CODE, backfill_short_codes

__all__ = [
    "APPLIED",
    "MARK_CALLBACK",
    "NOTE_RESULT",
    "TICKET_CODE",
    "ActedBy",
    "Change",
    "ChangeFields",
    "FromCallback",
    "NewOrder",
    "OrderNotFound",
    "ReceiptTaken",
    "StatusChanges",
    "action_row",
    "backfill_short_codes",
    "enqueue",
    "letter_fields",
    "mark_callback",
    "note_push_result",
    "payment_pipeline",
    "receipt_owner",
    "reserve",
]
