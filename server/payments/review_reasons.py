"""The review vocabulary: why a callback that may carry money was not applied.

Each has a Prometheus counter (`payment_status_reviews_total{reason}`) and an alert in
docs/OPERATIONS.md saying what a person does about it.
"""

from __future__ import annotations

REVIEW_REASONS = (
    "amount_mismatch",
    "missing_receipt",
    "unverified",
    "contradicts_provider",
    "double_payment",
    "unknown_order",
    "unknown_push",
)
