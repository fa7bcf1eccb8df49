"""Limits on what one client can make the service do to others (STK pushes to a phone)."""

from __future__ import annotations

from server.abuse.addresses import client_key, scope_client_key
from server.abuse.rate_windows import MemoryWindows, Quota, RedisWindows, Refused, Taken, Windows

__all__ = [
    "MemoryWindows",
    "Quota",
    "RedisWindows",
    "Refused",
    "Taken",
    "Windows",
    "client_key",
    "scope_client_key",
]
