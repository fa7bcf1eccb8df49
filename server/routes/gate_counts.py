"""Who is in: an event's count for the gate page, now (JSON) and live (SSE), gate staff only.

Counts carry no personal data: numbers per ticket type. The stream subscribes before it
reads (DESIGN rule 2), sends the count, then every newer one within a moment of a check-in
at any door of any process; a comment keeps it open every SSE_PING_INTERVAL, and at each
the store is read again, the safety net for a count whose message was lost.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from server.http_errors import ApiError
from server.routes.ticket_api import NO_STORE, gate_staff_only
from server.services import services
from server.status.admitted import AdmittedCount, AdmittedCounts, CountWatch
from server.status.hub import HubUnavailable
from server.urls import GATE_ADMITTED, GATE_ADMITTED_STREAM

STREAM_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


def event_slug_of(request: Request) -> str:
    slug = request.path_params["event_slug"]
    if slug not in services(request).catalogue.events:
        raise ApiError(404, "event_not_found", "No event has this slug.", headers=NO_STORE)
    return str(slug)


def count_event(count: AdmittedCount) -> bytes:
    # The id is the admitted count: it only grows, like an order's version.
    return b"id: %d\r\nevent: admitted\r\ndata: %s\r\n\r\n" % (count.admitted, count.json().encode())


async def admitted_now(request: Request) -> Response:
    svc = services(request)
    gate_staff_only(request, svc.settings.gate_tokens)
    count = await svc.admitted.read(event_slug_of(request))
    return JSONResponse(count.body(), headers=NO_STORE)


async def _events(
    counts: AdmittedCounts, watch: CountWatch, first: AdmittedCount, retry_ms: int, ping: float
) -> AsyncIterator[bytes]:
    try:
        counts.take(first)
        watch.sent = first
        yield b"retry: %d\r\n\r\n" % retry_ms + count_event(first)
        while not watch.ended:
            count = await watch.next(ping)
            if count is not None:
                yield count_event(count)
                continue
            if watch.ended:
                break
            yield b": ping\r\n\r\n"
            counts.take(await counts.read(watch.event_slug))
    finally:
        watch.close()


async def admitted_stream(request: Request) -> Response:
    svc = services(request)
    gate_staff_only(request, svc.settings.gate_tokens)
    slug = event_slug_of(request)
    try:
        watch = await svc.admitted.watch(slug)
    except HubUnavailable as exc:
        raise ApiError(
            exc.status_code, "unavailable", f"Try again shortly: {exc.reason}.", retry_after=exc.retry_after
        ) from None
    try:
        first = await svc.admitted.read(slug)
    except BaseException:
        watch.close()
        raise
    settings = svc.settings
    body = _events(svc.admitted, watch, first, settings.sse_retry_ms, settings.sse_ping_interval)
    return StreamingResponse(body, media_type="text/event-stream", headers=STREAM_HEADERS)


routes = [
    Route(GATE_ADMITTED, admitted_now, methods=["GET"]),
    Route(GATE_ADMITTED_STREAM, admitted_stream, methods=["GET"]),
]
