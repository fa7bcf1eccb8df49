"""How many STK pushes a phone number and a client address may cause: a guard on checkout.

An STK push puts a PIN prompt on the customer's phone, so an open checkout is a way to spam
anyone's phone. Each push counts against the number it goes to and against the address it
came from (`request.client.host`, as server/ops/forwarded.py resolves it behind the proxies
listed in FORWARDED_ALLOW_IPS; an IPv6 address counts by its /64). Requests that fail
validation never get here and count for nothing; a refused request stores nothing; a
checkout that stops before the push (seats gone) gives its place back.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

from server.abuse.addresses import client_key
from server.abuse.rate_windows import Quota, Refused, Taken, Windows
from server.orders.checkout import Checkout
from server.orders.unpaid_holds import TooManyUnpaidSeats
from server.orders.validation import CheckoutInvalid, CheckoutRequest
from server.payments.pushes import PushResult

# `{pushlimit}` is a Redis Cluster hash tag: a take's keys (phone and address) are read and
# written by one Lua script, which a cluster runs only when all of them hash to one slot.
KEY_PREFIX = "payment-status:{pushlimit}:"


class PushLimited(Exception):
    """Too many pushes: `limit` says which ("phone" or "ip"), `retry_after` in whole seconds."""

    def __init__(self, limit: str, retry_after: int) -> None:
        super().__init__(f"push limit per {limit} reached; retry after {retry_after}s")
        self.limit = limit
        self.retry_after = retry_after


def _key(kind: str, value: str) -> str:
    # Hashed so that numbers and addresses do not sit in plain sight in Redis key listings;
    # ten-digit phone numbers are easy to brute-force back, so this is tidiness, not secrecy.
    return KEY_PREFIX + kind + ":" + hashlib.sha256(value.encode()).hexdigest()[:32]


@dataclass
class PushLimits:
    windows: Windows
    per_phone: int
    per_ip: int
    window: float
    # Read by /metrics: refusals by which limit refused.
    refused: dict[str, int] = field(default_factory=lambda: {"phone": 0, "ip": 0})

    def quotas(self, phone: str, client: str) -> list[Quota]:
        quotas = []
        if self.per_ip > 0:
            quotas.append(Quota("ip", _key("ip", client_key(client)), self.per_ip, self.window))
        if self.per_phone > 0:
            quotas.append(Quota("phone", _key("phone", phone), self.per_phone, self.window))
        return quotas

    async def take(self, phone: str, client: str) -> Taken | None:
        """Count one push to `phone` from `client`; PushLimited when a limit is reached."""
        quotas = self.quotas(phone, client)
        if not quotas:
            return None
        taken = await self.windows.take(quotas)
        if isinstance(taken, Refused):
            self.refused[taken.quota.name] += 1
            raise PushLimited(taken.quota.name, max(1, math.ceil(taken.retry_after)))
        return taken

    async def give_back(self, taken: Taken | None) -> None:
        """No push went out after all: the place taken is given back."""
        if taken is not None:
            await self.windows.give_back(taken)

    async def place(self, checkout: Checkout, request: CheckoutRequest, client: str) -> PushResult:
        """`checkout.place(request)` if both limits allow a push; PushLimited otherwise."""
        taken = await self.take(request.phone, client)
        try:
            return await checkout.place(request, client)
        except (CheckoutInvalid, TooManyUnpaidSeats):
            # No push went out (the seats were gone, or this client holds enough unpaid).
            await self.give_back(taken)
            raise
