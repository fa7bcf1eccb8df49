"""Who is in, live: an event's count for the gate, now and as a stream, moved by a check-in at
any door of any process (two service processes on one Redis)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from server.settings import Settings
from tests.backends import OwnRedis
from tests.gate_helpers import GATE, GATE_TOKEN, paid_tickets
from tests.local_http import local_client
from tests.process_harness import running_service, sandbox_env
from tests.server_harness import run_server

ADMITTED = "/api/gate/events/demo-fest/admitted"


async def counts(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """The `admitted` events of an SSE response, as they arrive."""
    data: list[str] = []
    async for line in response.aiter_lines():
        if line.startswith("data:"):
            data.append(line[5:].strip())
        elif not line and data:
            yield json.loads("\n".join(data))
            data = []


def summary(count: dict[str, Any]) -> tuple[int, int, dict[str, tuple[int, int]]]:
    types = {t["slug"]: (t["admitted"], t["tickets"]) for t in count["types"] if t["tickets"]}
    return count["admitted"], count["tickets"], types


async def test_the_count_now_is_for_gate_staff_and_moves_with_a_check_in(stack_settings: Settings) -> None:
    settings = stack_settings.with_overrides(sandbox_delay=0.2, gate_tokens=(GATE_TOKEN,))
    async with run_server(settings) as live, local_client(live.base_url) as http:
        first, _ = await paid_tickets(http, 2)
        before = await http.get(ADMITTED, headers=GATE)
        assert before.status_code == 200 and before.headers["cache-control"] == "no-store"
        assert summary(before.json()) == (0, 2, {"early-bird": (0, 2)})
        assert {t["name"] for t in before.json()["types"]} >= {"Early Bird"}
        for headers in ({}, {"Authorization": "Bearer not-the-gate-token"}):
            refused = await http.get(ADMITTED, headers=headers)
            assert refused.status_code == 401 and refused.json()["error"] == "unauthorized"
            stream_refused = await http.get(ADMITTED + "/stream", headers=headers)
            assert stream_refused.status_code == 401
        missing = await http.get("/api/gate/events/no-such-event/admitted", headers=GATE)
        assert missing.status_code == 404 and missing.json()["error"] == "event_not_found"

        async with http.stream("GET", ADMITTED + "/stream", headers=GATE) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            heard = counts(stream)
            assert summary(await anext(heard))[0] == 0
            admitted = await http.post("/api/tickets/check-in", json={"code": first["code"]}, headers=GATE)
            assert admitted.status_code == 200
            assert summary(await asyncio.wait_for(anext(heard), 10)) == (1, 2, {"early-bird": (1, 2)})
        after = await http.get(ADMITTED, headers=GATE)
        assert summary(after.json())[:2] == (1, 2)
        # No personal data: numbers and ticket types only.
        assert "amina" not in after.text.lower()


def test_a_check_in_on_one_process_moves_the_count_on_another(tmp_path: Path) -> None:
    redis = OwnRedis(tmp_path)
    redis.start()
    try:
        env = sandbox_env(
            tmp_path, REDIS_URL=redis.url, GATE_TOKEN=GATE_TOKEN, SANDBOX_DELAY="0.2", LOG_LEVEL="WARNING"
        )
        with (
            running_service(env, tmp_path, name="north") as north,
            running_service(env, tmp_path, name="south") as south,
        ):
            asyncio.run(_check_in_north_hear_south(north.base_url, south.base_url))
    finally:
        redis.stop()


async def _check_in_north_hear_south(north_url: str, south_url: str) -> None:
    async with (
        local_client(north_url, timeout=30) as north,
        local_client(south_url, timeout=30) as south,
    ):
        tickets = await paid_tickets(north, 3)
        async with south.stream("GET", ADMITTED + "/stream", headers=GATE) as stream:
            heard = counts(stream)
            # Subscribed, then read: the stream opens with the count as it is.
            assert summary(await anext(heard)) == (0, 3, {"early-bird": (0, 3)})
            for number, ticket in enumerate(tickets, start=1):
                admitted = await north.post(
                    "/api/tickets/check-in",
                    json={"code": ticket["short_code"], "gate": "North"},
                    headers=GATE,
                )
                assert admitted.status_code == 200
                # The other process hears it through Redis (awaited, not timed).
                assert summary(await asyncio.wait_for(anext(heard), 15))[:2] == (number, 3)
