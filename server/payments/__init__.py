"""Payments: STK pushes sent and recorded, callbacks stored (or kept on disk while the store
refuses them), matched and applied or held for review, and expiry."""

from __future__ import annotations

from server.payments.callbacks import CallbackProcessor
from server.payments.expiry import ExpiryWorker
from server.payments.pushes import (
    REFUSED,
    SENDING,
    UNKNOWN,
    OrderToPay,
    Payable,
    PushAttemptTaken,
    PushResult,
    PushSender,
    latest_push,
)
from server.payments.review_desk import complete_after_review
from server.payments.spool import SPOOL_DIR, CallbackSpool

__all__ = [
    "REFUSED",
    "SENDING",
    "SPOOL_DIR",
    "UNKNOWN",
    "CallbackProcessor",
    "CallbackSpool",
    "ExpiryWorker",
    "OrderToPay",
    "Payable",
    "PushAttemptTaken",
    "PushResult",
    "PushSender",
    "complete_after_review",
    "latest_push",
]
