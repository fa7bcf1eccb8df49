"""Status routes: the document, the long poll and the event stream. No personal data here."""

from __future__ import annotations

from collections.abc import AsyncIterator

from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server.errors import ApiError
from server.ops.metrics import Metrics
from server.routes.params import opaque_id_shaped, optional_version, timeout_seconds
from server.services import services
from server.status.waiting import Stream, open_stream, wait_for_change

NO_STORE = {"Cache-Control": "no-store"}
# Under the Procfile's --timeout-graceful-shutdown (10 s).
SHUTDOWN_GRACE = 5.0


def _unknown(order_id: str) -> ApiError:
    return ApiError(404, "order_not_found", "No order has this id.", order_id=order_id)


def _order_id(request: Request) -> str:
    order_id: str = request.path_params["order_id"]
    if not opaque_id_shaped(order_id):
        raise _unknown(order_id[:64])
    return order_id


def _json(body: str) -> Response:
    # Status documents arrive already encoded: send the bytes as they are.
    return Response(body, media_type="application/json", headers=NO_STORE)


async def get_order(request: Request) -> Response:
    order_id = _order_id(request)
    update = await services(request).reader.get(order_id)
    if update is None:
        raise _unknown(order_id)
    return _json(update.json)


async def wait_order(request: Request) -> Response:
    order_id = _order_id(request)
    svc = services(request)
    since = optional_version(request.query_params.get("since"), "since")
    timeout = timeout_seconds(
        request.query_params.get("timeout"),
        default=svc.settings.wait_timeout,
        cap=svc.settings.wait_timeout_max,
    )
    with svc.metrics.holding("long_poll"):
        result = await wait_for_change(svc.hub, order_id, since=since, timeout=timeout)
    if result is None:
        raise _unknown(order_id)
    body = {**result.update.document, "timed_out": result.timed_out}
    return JSONResponse(body, headers=NO_STORE)


async def order_events(request: Request) -> Response:
    order_id = _order_id(request)
    svc = services(request)
    # Both checked, so a bad one is a 400 whichever the client sent; the header wins.
    header = optional_version(request.headers.get("last-event-id"), "Last-Event-ID")
    query = optional_version(request.query_params.get("last_event_id"), "last_event_id")
    last_event_id = header if header is not None else query
    stream = await open_stream(
        svc.hub, order_id, last_event_id=last_event_id, max_lifetime=svc.settings.sse_max_lifetime
    )
    if stream is None:
        raise _unknown(order_id)
    if stream.finished:
        stream.close()
        # 204 tells a reconnecting EventSource to stop: it already has the final status.
        return Response(status_code=204, headers=NO_STORE)
    return EventSourceResponse(
        _events(stream, svc.settings.sse_retry_ms, svc.metrics),
        ping=svc.settings.sse_ping_interval,
        # A client that stopped reading is dropped instead of holding its buffers forever.
        send_timeout=svc.settings.sse_send_timeout,
        # sse-starlette cancels every stream soon after SIGTERM, cutting it mid-chunk; the
        # grace lets our own drain (server/shutdown.py) end each one cleanly first.
        shutdown_grace_period=SHUTDOWN_GRACE,
        headers=NO_STORE,
    )


async def _events(stream: Stream, retry_ms: int, metrics: Metrics) -> AsyncIterator[ServerSentEvent]:
    with metrics.holding("sse"):
        yield ServerSentEvent(retry=retry_ms)
        async for update in stream.updates():
            yield ServerSentEvent(data=update.json, event="status", id=str(update.version))


routes = [
    Route("/api/orders/{order_id}", get_order, methods=["GET"]),
    Route("/api/orders/{order_id}/wait", wait_order, methods=["GET"]),
    Route("/api/orders/{order_id}/events", order_events, methods=["GET"]),
]
