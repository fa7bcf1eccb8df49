"""Small helpers the tests share: making orders and reading SSE over a real socket."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

from server.services import Services
from server.status.document import StatusUpdate
from server.transitions.change import Change


async def new_order(services: Services, amount: int = 300) -> StatusUpdate:
    return await services.changes.create({"amount": amount})


async def move(services: Services, order_id: str, to_status: str, **fields: Any) -> StatusUpdate:
    result = await services.changes.apply(order_id, Change(to_status, source="test", fields=fields))
    return result.update


class SSEReader:
    """Parses an SSE byte stream into events, comments and retry hints."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines: AsyncIterator[str] = response.aiter_lines()
        self.retry: int | None = None
        self.comments: list[str] = []

    async def next_event(self) -> dict[str, Any] | None:
        """The next event with data, or None when the server closes the stream."""
        event: dict[str, Any] = {}
        async for line in self._lines:
            if line == "":
                if "data" in event:
                    event["data"] = json.loads(event["data"])
                    return event
                event = {}
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "":
                self.comments.append(value)
            elif field == "retry":
                self.retry = int(value)
            elif field == "data":
                event["data"] = event.get("data", "") + value
            else:
                event[field] = value
        return None


class Collector:
    """A broker listener that keeps what it is given."""

    def __init__(self) -> None:
        self.messages: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self.resyncs = 0

    def deliver(self, channel: str, message: str) -> None:
        self.messages.put_nowait((channel, message))

    def resync(self) -> None:
        self.resyncs += 1
