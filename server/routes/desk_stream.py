"""The desk's live figures: one stream of server-sent events, rung by the events' bells.

Subscribe, then read (DESIGN rule 2): the stream listens to every event's `sales:` and
`door:` bells before its first read, re-reads the store whenever one rings, and at least
every `REFRESH` seconds besides (a ring lost with Redis, "paid in the last hour" going
stale), sending the figures only when they changed and a comment otherwise: a platform's
router keeps an idle stream open no longer than 55 s. The page reads it with `fetch`, which
can send the desk token (an EventSource cannot send a header).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

from starlette.responses import Response, StreamingResponse

from server.desk.figures import read_door, read_sales
from server.routes.desk_auth import NO_STORE
from server.services import Services
from server.status.bells import door_channel, sales_channel

REFRESH = 15.0
PING = b": ping\r\n\r\n"


async def _figures(found: Services) -> bytes:
    sales = await read_sales(found.database, found.catalogue)
    door = await read_door(found.database, found.catalogue)
    body = {"events": [e.body() for e in sales], "door": [d.body() for d in door]}
    return json.dumps(body, separators=(",", ":")).encode()


async def _events(found: Services) -> AsyncIterator[bytes]:
    slugs = list(found.catalogue.events)
    channels = [sales_channel(s) for s in slugs] + [door_channel(s) for s in slugs]
    async with found.hub.bells.listening(channels) as bell:
        yield b"retry: 2000\r\n\r\n"
        last = b""
        while not found.hub.draining:
            bell.clear()
            figures = await _figures(found)
            yield b"event: figures\r\ndata: %s\r\n\r\n" % figures if figures != last else PING
            last = figures
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(REFRESH):
                    await bell.wait()


def live_figures(found: Services) -> Response:
    return StreamingResponse(
        _events(found),
        media_type="text/event-stream; charset=utf-8",
        headers={"X-Accel-Buffering": "no", **NO_STORE},
    )
