"""The read side: the status document, orders read as documents (with their signed
tickets), the hub that fans changes out, watches and held waits."""

from __future__ import annotations

from server.status.document import StatusUpdate
from server.status.hub import HubUnavailable, StatusHub
from server.status.reader import ORDER_BY_ID, OrderReader
from server.status.signed_tickets import SIGNED_COLUMNS, SIGNED_ORDER, document_ticket, load_tickets
from server.status.waiting import HeldWait, Stream, WaitResult, answer_at_once, open_stream, watch_and_read
from server.status.watch import Watch

__all__ = [
    "ORDER_BY_ID",
    "SIGNED_COLUMNS",
    "SIGNED_ORDER",
    "HeldWait",
    "HubUnavailable",
    "OrderReader",
    "StatusHub",
    "StatusUpdate",
    "Stream",
    "WaitResult",
    "Watch",
    "answer_at_once",
    "document_ticket",
    "load_tickets",
    "open_stream",
    "watch_and_read",
]
