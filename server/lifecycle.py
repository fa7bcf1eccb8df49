"""The payment lifecycle's vocabulary, in one leaf module (as `starlette/status.py` holds codes).

Every status an order can be in, which moves between them are allowed, which statuses give
seats back, why a callback that may carry money is held for review, and what M-PESA's result
codes mean. Nothing here imports from the service: the write side, the read side, the
metrics' labels and the OpenAPI enums are all built from these names, so changing "what paid
means" is a change to this file first. No module in `server/` spells a status or a review
reason as a bare string (tests/test_lifecycle_vocabulary.py keeps it so).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = [
    "ALLOWED_FROM",
    "CANCELLED",
    "CANCELLED_CODES",
    "COMPLETED",
    "EXPIRED",
    "EXPIRED_CODES",
    "FAILED",
    "PAID_CODE",
    "PENDING",
    "PROCESSING",
    "RELEASING",
    "REVIEW_REASONS",
    "STATUSES",
    "TERMINAL",
    "ReviewReason",
    "review_code",
    "status_for_result_code",
]

# An order's payment status (the `payment_status` of the status document).
PENDING = "pending"
PROCESSING = "processing"
COMPLETED = "completed"
FAILED = "failed"
CANCELLED = "cancelled"
EXPIRED = "expired"

STATUSES = (PENDING, PROCESSING, COMPLETED, FAILED, CANCELLED, EXPIRED)
TERMINAL = frozenset({COMPLETED, FAILED, CANCELLED, EXPIRED})

# Which states each target may be entered from (DESIGN rule 5). Failures never overwrite
# `completed`; a success overwrites any other terminal state, because the customer has paid.
# Each STK push sent again moves `processing` to `processing` (a new version: pushes, window).
ALLOWED_FROM: Mapping[str, frozenset[str]] = {
    PROCESSING: frozenset({PENDING, PROCESSING}),
    COMPLETED: frozenset({PENDING, PROCESSING, FAILED, CANCELLED, EXPIRED}),
    FAILED: frozenset({PENDING, PROCESSING}),
    CANCELLED: frozenset({PENDING, PROCESSING}),
    EXPIRED: frozenset({PENDING, PROCESSING}),
}

# Statuses that give an order's seats back; a payment after one of them takes them again.
RELEASING = frozenset({FAILED, CANCELLED, EXPIRED})


class ReviewReason:
    """Why a callback that may carry money was held for a person instead of applied.

    Each has a Prometheus counter (`payment_status_reviews_total{reason}`) and an alert in
    docs/OPERATIONS.md saying what a person does about it.
    """

    AMOUNT_MISMATCH = "amount_mismatch"
    MISSING_RECEIPT = "missing_receipt"
    UNVERIFIED = "unverified"
    CONTRADICTS_PROVIDER = "contradicts_provider"
    DOUBLE_PAYMENT = "double_payment"
    UNKNOWN_ORDER = "unknown_order"
    UNKNOWN_PUSH = "unknown_push"
    # A receipt already on another completed order: one payment pays for one order (issue 24).
    RECEIPT_REUSED = "receipt_reused"
    # Open past PAYMENT_EXPIRY and more, and PayHero could not be asked whether it was paid
    # (not reached, no answer, a 5xx): the expiry pass keeps asking, and a person is told.
    STATUS_UNKNOWN = "status_unknown"


REVIEW_REASONS = (
    ReviewReason.AMOUNT_MISMATCH,
    ReviewReason.MISSING_RECEIPT,
    ReviewReason.UNVERIFIED,
    ReviewReason.CONTRADICTS_PROVIDER,
    ReviewReason.DOUBLE_PAYMENT,
    ReviewReason.UNKNOWN_ORDER,
    ReviewReason.UNKNOWN_PUSH,
    ReviewReason.RECEIPT_REUSED,
    ReviewReason.STATUS_UNKNOWN,
)

# An order's `needs_review` mark starts with its reason, as the callback processor and the
# expiry pass write it: `review: amount_mismatch (callback 12)`.
_HELD = re.compile(r"^review: (?P<reason>[a-z_]+)")


def review_code(needs_review: str) -> str | None:
    """The review reason a `needs_review` mark names, or None for a mark of another shape."""
    match = _HELD.match(needs_review)
    return match.group("reason") if match else None


# M-PESA's result codes as PayHero passes them on (docs/PAYHERO.md).
PAID_CODE = 0
CANCELLED_CODES = frozenset({1032, 1031})
EXPIRED_CODES = frozenset({1037, 1019})


def status_for_result_code(code: int | None, *, paid: bool | None = None) -> str:
    """0 (or a flat callback's `success`) paid; 1032/1031 cancelled; 1037/1019 expired; else failed."""
    if code == PAID_CODE or paid:
        return COMPLETED
    if code in CANCELLED_CODES:
        return CANCELLED
    if code in EXPIRED_CODES:
        return EXPIRED
    return FAILED
