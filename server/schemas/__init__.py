"""The HTTP surface's bodies, declared once as pydantic models.

`/openapi.json` takes its component schemas from here (server/ops/openapi.py). The checkout
body, which is also validated with its model, lives beside its parser in
server/orders/validation.py. The response models describe; the routes do not build them:
the status document is encoded once per change (`StatusUpdate.json`) and handed to every
waiter as is, so no model object is made per waiter or per answer (docs/CHOICES.md).
"""

from __future__ import annotations

from server.schemas.document_schema import OrderCreated, PushFailed, StatusDocument, StatusEvent, WaitResult
from server.schemas.service_schema import (
    AdmittedCount,
    Alive,
    CallbackAck,
    CodeBody,
    Error,
    EventListing,
    GateSession,
    LostTicketsAccepted,
    LostTicketsBody,
    Ready,
    TicketCheck,
)

__all__ = [
    "AdmittedCount",
    "Alive",
    "CallbackAck",
    "CodeBody",
    "Error",
    "EventListing",
    "GateSession",
    "LostTicketsAccepted",
    "LostTicketsBody",
    "OrderCreated",
    "PushFailed",
    "Ready",
    "StatusDocument",
    "StatusEvent",
    "TicketCheck",
    "WaitResult",
]
