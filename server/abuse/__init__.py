"""Limits on what one client can make the service do to others (STK pushes to a phone)."""

from __future__ import annotations

import typing

from server.abuse.addresses import client_key, scope_client_key
from server.abuse.rate_windows import MemoryWindows, Quota, Refused, Taken, Windows

if typing.TYPE_CHECKING:
    from server.abuse.redis_windows import RedisWindows


def __getattr__(name: str) -> object:
    """`RedisWindows` on first use (PEP 562): it loads redis-py, which a process without
    Redis (the default) never needs, ~55 ms of CPU a start."""
    if name == "RedisWindows":
        from server.abuse.redis_windows import RedisWindows

        return RedisWindows
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
