"""The read side: the status document, orders read as documents (with their signed
tickets), the hub that fans changes out, watches and held waits."""

from __future__ import annotations

from server.status.admitted import AdmittedCount, AdmittedCounts, CountWatch, channel_namespace
from server.status.bells import door_channel, sales_channel
from server.status.document import DocumentTicket, ListedTicket, StatusDocument, StatusUpdate
from server.status.hub import HubUnavailable, StatusHub
from server.status.reader import ORDER_BY_ID, OrderReader
from server.status.signed_tickets import SIGNED_COLUMNS, SIGNED_ORDER, document_ticket, load_tickets
from server.status.waiting import (
    HeldWait,
    Stream,
    WaitResult,
    answer_at_once,
    open_stream,
    watch_and_read,
    watch_unless_answered,
)
from server.status.watch import Watch

__all__ = [
    "ORDER_BY_ID",
    "SIGNED_COLUMNS",
    "SIGNED_ORDER",
    "AdmittedCount",
    "AdmittedCounts",
    "CountWatch",
    "DocumentTicket",
    "HeldWait",
    "HubUnavailable",
    "ListedTicket",
    "OrderReader",
    "StatusDocument",
    "StatusHub",
    "StatusUpdate",
    "Stream",
    "WaitResult",
    "Watch",
    "answer_at_once",
    "channel_namespace",
    "document_ticket",
    "door_channel",
    "load_tickets",
    "open_stream",
    "sales_channel",
    "watch_and_read",
    "watch_unless_answered",
]
