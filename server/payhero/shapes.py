"""PayHero's JSON bodies as documented (docs/PAYHERO.md), one TypedDict each.

What we send (the STK push's request) is built as one by the client and taken as one by
our stand-in (fake.py). What PayHero sends (its answers, its callbacks) is built as one
only by the stand-in: the real client and the callback parser receive JSON they cannot
trust, and parse it by hand (client.py, callback_parser.py) into the dataclasses the rest
of the service sees. These types are PayHero's words, so their keys keep PayHero's
spelling (`CheckoutRequestID`, `ResultCode`).
"""

from __future__ import annotations

from typing import NotRequired, TypeAlias, TypedDict


class StkPushRequest(TypedDict):
    """`POST /api/v2/payments`'s body."""

    amount: int  # KES, whole shillings
    phone_number: str
    channel_id: int
    provider: str  # "m-pesa"
    external_reference: str  # our order number; comes back in the callback
    customer_name: NotRequired[str]
    callback_url: str


class StkPushAnswer(TypedDict):
    """PayHero took the push (the customer has not paid yet)."""

    success: bool
    status: str  # QUEUED
    reference: str
    CheckoutRequestID: str


class TransactionStatusAnswer(TypedDict):
    """`GET /api/v2/transaction-status`'s answer, as our stand-in states it: PayHero's
    documented sample names no `amount` nor `external_reference`; ours does."""

    transaction_date: str  # ISO 8601
    amount: int
    external_reference: str
    provider: str
    success: bool
    status: str  # QUEUED, SUCCESS or FAILED
    reference: str
    CheckoutRequestID: str
    provider_reference: str  # the M-PESA receipt, or ""
    third_party_reference: str


class V2CallbackResponse(TypedDict):
    """The v2 callback's `response` object: M-PESA's own words and codes."""

    Amount: int
    CheckoutRequestID: str
    ExternalReference: str
    MerchantRequestID: str
    MpesaReceiptNumber: str  # "" unless paid
    Phone: str
    ResultCode: int  # 0 paid
    ResultDesc: str
    Status: str  # Success or Failed


class V2Callback(TypedDict):
    """PayHero's v2 callback (tests/payhero_samples/success.json)."""

    forward_url: str
    response: V2CallbackResponse
    status: bool


class FlatCallback(TypedDict):
    """API 2.0's flat result callback (tests/payhero_samples/flat-*.json)."""

    success: bool
    status: str  # success or failed
    message: str  # M-PESA's words
    reference: str  # PayHero's reference of the push
    external_reference: str
    amount: int
    currency: str
    transaction_id: str
    transaction_date: str
    transaction_type: str
    provider_reference: str  # the M-PESA receipt, or ""
    provider: str
    callback_urls: list[str] | None


# Either shape arrives on the same route.
CallbackBody: TypeAlias = V2Callback | FlatCallback
