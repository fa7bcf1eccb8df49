"""Running a scenario: uvloop when installed, the file limit raised, one asyncio.run."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from bench.system import raise_nofile

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run `main` on uvloop if it is installed: the client must not be the bottleneck."""
    raise_nofile()
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def sizes(text: str) -> list[int]:
    """`1000,5k,15000` into [1000, 5000, 15000]."""
    found = []
    for part in text.split(","):
        part = part.strip().lower()
        found.append(int(float(part[:-1]) * 1000) if part.endswith("k") else int(part))
    return found
