"""How many codes one client address and one gate token may try: a guard against guessing.

A short code has 50 bits; a ticket is found by trying codes against verify (public, counted
per address) or check-in (counted per address and per gate token, so a stolen token is slow
too). docs/OPERATIONS.md works out how long guessing takes under the defaults. Counted in
the same sliding windows as the push limits (Redis across processes, memory alone).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

from server.abuse.addresses import client_key
from server.abuse.rate_windows import Quota, Refused, Windows

# A Redis Cluster hash tag, as for the push limits: one take's keys live in one slot.
KEY_PREFIX = "payment-status:{gatelimit}:"


class GateLimited(Exception):
    """Too many tries: `limit` says which ("ip" or "token"), `retry_after` in whole seconds."""

    def __init__(self, limit: str, retry_after: int) -> None:
        super().__init__(f"gate limit per {limit} reached; retry after {retry_after}s")
        self.limit = limit
        self.retry_after = retry_after


def _key(kind: str, value: str) -> str:
    return KEY_PREFIX + kind + ":" + hashlib.sha256(value.encode()).hexdigest()[:32]


@dataclass
class GateLimits:
    windows: Windows
    per_ip: int
    per_token: int
    window: float
    # Read by /metrics: refusals by which limit refused.
    refused: dict[str, int] = field(default_factory=lambda: {"ip": 0, "token": 0})

    async def take(self, client: str, token: str | None = None) -> None:
        """Count one try from `client` (and with `token`, for check-in); GateLimited when
        a limit is reached. Refused tries are not counted (abuse/rate_windows.py)."""
        quotas = []
        if self.per_ip > 0:
            quotas.append(Quota("ip", _key("ip", client_key(client)), self.per_ip, self.window))
        if token is not None and self.per_token > 0:
            quotas.append(Quota("token", _key("token", token), self.per_token, self.window))
        if not quotas:
            return
        taken = await self.windows.take(quotas)
        if isinstance(taken, Refused):
            self.refused[taken.quota.name] += 1
            raise GateLimited(taken.quota.name, max(1, math.ceil(taken.retry_after)))
