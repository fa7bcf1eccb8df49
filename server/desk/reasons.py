"""Why an order is held for a person, in words an organiser understands."""

from __future__ import annotations

from server.lifecycle import ReviewReason, review_code

WORDS = {
    ReviewReason.AMOUNT_MISMATCH: "The customer paid a different amount from the order's price.",
    ReviewReason.MISSING_RECEIPT: "PayHero said the payment succeeded but gave no M-PESA receipt.",
    ReviewReason.UNVERIFIED: "PayHero's own record did not confirm the payment when we asked.",
    ReviewReason.CONTRADICTS_PROVIDER: "A success arrived after PayHero had said this payment failed.",
    ReviewReason.DOUBLE_PAYMENT: "The customer paid twice: the second payment needs a refund.",
    ReviewReason.UNKNOWN_ORDER: "Money arrived for an order number we do not have.",
    ReviewReason.UNKNOWN_PUSH: "Money arrived for a payment request we have no record of.",
    ReviewReason.RECEIPT_REUSED: "The M-PESA receipt given for this order already paid for another order.",
    ReviewReason.STATUS_UNKNOWN: (
        "PayHero could not be asked whether this payment went through, for over an hour:"
        " check the M-PESA statement. The service keeps asking."
    ),
}


def reason_in_words(needs_review: str) -> str:
    code = review_code(needs_review)
    if code in WORDS:
        return WORDS[code]
    if "over capacity" in needs_review:
        return "Paid after its seats had been given back: the event is now over capacity."
    return needs_review
