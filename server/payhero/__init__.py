"""PayHero at its boundary: the client, the callback parser, and the sandbox's fake."""

from __future__ import annotations

from server.payhero.callback_parser import CallbackInvalid, PayHeroCallback, parse_callback
from server.payhero.client import (
    OutcomeUnknown,
    PayHeroClient,
    PaymentProviderError,
    ProviderUnavailable,
    TransactionStatus,
)
from server.payhero.fake import RESULTS, FakePayHero, callback_body
from server.payhero.gateway import open_payhero

__all__ = [
    "RESULTS",
    "CallbackInvalid",
    "FakePayHero",
    "OutcomeUnknown",
    "PayHeroCallback",
    "PayHeroClient",
    "PaymentProviderError",
    "ProviderUnavailable",
    "TransactionStatus",
    "callback_body",
    "open_payhero",
    "parse_callback",
]
