"""The naive peer: order status over SSE and long poll, written the way it usually is.

    uvicorn bench.peers.naive:app   (REDIS_URL, default redis://127.0.0.1:6379/0)

Starlette, sse-starlette's `EventSourceResponse` and encode/broadcaster on Redis: one
`broadcast.subscribe(channel)` per stream, as broadcaster's README shows, and a dict of
futures for `/wait`, each order's futures answered by one subscription of its own. It
speaks this service's paths and event names so that bench.compare drives both with one
client, but it has no store: a publish carries the whole message, as Nchan's does, and a
waiter gets nothing until one comes. `POST .../publish` is its publish endpoint;
`GET /stats` counts the waiters whose subscription Redis has confirmed.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from broadcaster import Broadcast
from sse_starlette import EventSourceResponse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

PREFIX = "peer:order:"
TERMINAL = frozenset({"completed", "failed", "cancelled", "expired"})
MAX_HOLD = 120.0

broadcast = Broadcast(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
# Order id -> the futures of the /wait requests held on it, and the task relaying to them.
waiting: dict[str, set[asyncio.Future[str]]] = {}
relays: dict[str, asyncio.Task[None]] = {}
relayed: set[str] = set()
streams = 0


async def events(request: Request) -> Response:
    channel = PREFIX + request.path_params["order_id"]

    async def stream() -> AsyncIterator[dict[str, str]]:
        global streams
        async with broadcast.subscribe(channel) as subscriber:
            streams += 1
            try:
                while True:
                    event = await subscriber.get()
                    yield {"event": "status", "data": event.message}
                    if json.loads(event.message).get("payment_status") in TERMINAL:
                        return
            finally:
                streams -= 1

    return EventSourceResponse(stream(), ping=15)


async def relay(order_id: str) -> None:
    try:
        async with broadcast.subscribe(PREFIX + order_id) as subscriber:
            relayed.add(order_id)
            event = await subscriber.get()
        for future in waiting.pop(order_id, set()):
            if not future.done():
                future.set_result(event.message)
    finally:
        relayed.discard(order_id)
        relays.pop(order_id, None)


async def wait(request: Request) -> Response:
    order_id = request.path_params["order_id"]
    try:
        timeout = min(float(request.query_params.get("timeout", "25")), MAX_HOLD)
    except ValueError:
        return JSONResponse({"error": "bad_timeout", "message": "timeout must be a number"}, 400)
    future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    waiting.setdefault(order_id, set()).add(future)
    if order_id not in relays:
        relays[order_id] = asyncio.create_task(relay(order_id))
    try:
        message = await asyncio.wait_for(future, timeout)
    except TimeoutError:
        return JSONResponse({"timed_out": True})
    finally:
        futures = waiting.get(order_id)
        if futures is not None:
            futures.discard(future)
            if not futures:
                del waiting[order_id]
                task = relays.pop(order_id, None)
                if task is not None:
                    task.cancel()
    return Response(message, media_type="application/json")


async def publish(request: Request) -> Response:
    await broadcast.publish(PREFIX + request.path_params["order_id"], (await request.body()).decode())
    return JSONResponse({"published": True})


async def stats(request: Request) -> Response:
    held = streams + sum(len(waiting.get(order_id, ())) for order_id in relayed)
    return JSONResponse({"held": held})


async def ready(request: Request) -> Response:
    return JSONResponse({"ready": True})


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
    async with broadcast:
        yield {}


app = Starlette(
    routes=[
        Route("/api/orders/{order_id}/events", events),
        Route("/api/orders/{order_id}/wait", wait),
        Route("/api/orders/{order_id}/publish", publish, methods=["POST"]),
        Route("/stats", stats),
        Route("/readyz", ready),
    ],
    lifespan=lifespan,
)
