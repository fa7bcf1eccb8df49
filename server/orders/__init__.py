"""Placing orders: checkout, its validation, prompts sent again, push limits, the sale's guard."""

from __future__ import annotations

from server.orders.checkout import Checkout, PushFailed
from server.orders.lost_tickets import LostInvalid, LostLimited, LostTickets, parse_lost
from server.orders.prompts import OrderFinal, PromptOpen, Prompts
from server.orders.push_limits import PushLimited, PushLimits
from server.orders.sale_guard import SaleGuard, SaleRefused
from server.orders.unpaid_holds import TooManyUnpaidSeats, UnpaidCaps
from server.orders.validation import CheckoutBody, CheckoutInvalid, parse_checkout

__all__ = [
    "Checkout",
    "CheckoutBody",
    "CheckoutInvalid",
    "LostInvalid",
    "LostLimited",
    "LostTickets",
    "OrderFinal",
    "PromptOpen",
    "Prompts",
    "PushFailed",
    "PushLimited",
    "PushLimits",
    "SaleGuard",
    "SaleRefused",
    "TooManyUnpaidSeats",
    "UnpaidCaps",
    "parse_checkout",
    "parse_lost",
]
