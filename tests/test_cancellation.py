"""A task cancelled in the turn where what it waits for arrives ends cancelled.

Python 3.11's `asyncio.wait_for` returns the awaited result when that result and a cancel of
its caller land in the same turn of the loop, and the cancel is lost (CPython gh-86296, fixed
in 3.12 by building `wait_for` on `asyncio.timeout`). A loop that waited that way ran on after
its stop: a whole test run hung at shutdown on the PostgreSQL broker's keepalive wait. The
service waits with `asyncio.timeout`, which lets the cancel through.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

import server
from server.services import Services
from server.status.admitted import AdmittedCount


async def test_a_gate_stream_cancelled_as_a_count_arrives_ends(services: Services) -> None:
    counts = services.admitted
    watch = await counts.watch("demo-fest")
    try:
        waiting = asyncio.create_task(watch.next(timeout=30))
        await asyncio.sleep(0)  # one turn: the task runs up to its wait for a count
        assert not waiting.done()
        # A count from another process, and the stream's cancel (its client gone), together.
        services.hub.deliver(counts.channel("demo-fest"), AdmittedCount("demo-fest", 1, 10, (), 0).json())
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
    finally:
        watch.close()


def test_the_service_waits_with_asyncio_timeout_not_wait_for() -> None:
    root = Path(server.__file__).parent
    found = [
        f"{path.relative_to(root.parent)}:{number}"
        for path in sorted(root.rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if re.search(r"\basyncio\.wait_for\(", line)
    ]
    assert found == [], f"asyncio.wait_for can lose a cancel on Python 3.11: {found}"
