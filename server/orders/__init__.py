"""Placing orders: checkout, its validation, prompts sent again, push limits, the sale's guard."""

from __future__ import annotations

from server.orders.checkout import Checkout, PushFailed
from server.orders.prompts import OrderFinal, PromptOpen, Prompts
from server.orders.push_limits import PushLimited, PushLimits
from server.orders.sale_guard import SaleGuard, SaleRefused
from server.orders.validation import CheckoutBody, CheckoutInvalid, parse_checkout

__all__ = [
    "Checkout",
    "CheckoutBody",
    "CheckoutInvalid",
    "OrderFinal",
    "PromptOpen",
    "Prompts",
    "PushFailed",
    "PushLimited",
    "PushLimits",
    "SaleGuard",
    "SaleRefused",
    "parse_checkout",
]
