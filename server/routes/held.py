"""The two held routes, `/wait` and `/events`, as bare ASGI apps, and a fast path to them.

A held request is paid for in memory for as long as it waits, and this service exists to
hold thousands. bench.memory_profile showed what a held `/wait` kept alive through
Starlette: about 5 KB per request of frames and objects from the Router, the exception
middleware, `request_response`'s two exception wrappers and the Request, next to uvicorn's
own ~8 KB. So these two routes are ASGI apps that read what they need from the scope,
and `HeldRoutesFastPath` sends a GET for them straight there, past the Router. They are
still Starlette Routes too (so other methods get 405, and metrics see their templates);
the errors they raise are rendered by the app's own exception handlers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from urllib.parse import parse_qsl

from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from server.abuse.addresses import scope_client_key
from server.http_errors import ApiError, render_error
from server.routes.event_stream import EventStream
from server.routes.params import opaque_id_shaped, optional_version, scope_header, timeout_seconds
from server.services import scope_services
from server.status.document import StatusUpdate
from server.status.hub import StatusHub
from server.status.waiting import HeldWait, WaitResult, answer_at_once, open_stream, watch_unless_answered
from server.status.watch import Watch
from server.urls import ORDER_EVENTS, ORDER_WAIT, router_pattern

NO_STORE = (b"cache-control", b"no-store")
# The Router's own patterns of the two templates: the fast path matches exactly what it would.
_WAIT = router_pattern(ORDER_WAIT)
_EVENTS = router_pattern(ORDER_EVENTS)


def unknown_order(order_id: str) -> ApiError:
    return ApiError(404, "order_not_found", "No order has this id.", order_id=order_id)


def shaped_order_id(order_id: str) -> str:
    """`order_id` if it could be one; else the 404 of an unknown order, before any read."""
    if not opaque_id_shaped(order_id):
        raise unknown_order(order_id[:64])
    return order_id


def _query(scope: Scope) -> dict[str, str]:
    return dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True))


async def _send_json(send: Send, body: bytes, status: int = 200) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body)), NO_STORE]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _send_result(send: Send, result: WaitResult) -> None:
    # The document is already JSON (encoded once by whoever read or published it):
    # `timed_out` is spliced in as its last member instead of encoding it all again.
    flag = b',"timed_out":true}' if result.timed_out else b',"timed_out":false}'
    await _send_json(send, result.update.json.encode()[:-1] + flag)


class LongPoll(HeldWait):
    """A held `/wait`: its answer, when it comes, is sent by a short-lived task."""

    __slots__ = ("send", "writer")

    def __init__(
        self, hub: StatusHub, watch: Watch, latest: StatusUpdate, since: int | None, send: Send
    ) -> None:
        super().__init__(hub, watch, latest, since)
        self.send = send
        self.writer: asyncio.Task[None] | None = None

    def answer(self, result: WaitResult) -> None:
        self.writer = asyncio.get_running_loop().create_task(_send_result(self.send, result))


# Each endpoint handles its errors in its own `serve` rather than in a shared wrapper
# coroutine: one frame less for every held request. The fast path calls `serve` with the
# order id it matched, so no `path_params` dict is made either.


class WaitEndpoint:
    """`GET /api/orders/{id}/wait?since=&timeout=`: the long poll (API.md)."""

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        return self.serve(scope["path_params"]["order_id"], scope, receive, send)

    async def serve(self, order_id: str, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            shaped_order_id(order_id)
            svc = scope_services(scope)
            query = _query(scope)
            since = optional_version(query.get("since"), "since")
            timeout = timeout_seconds(
                query.get("timeout"), default=svc.settings.wait_timeout, cap=svc.settings.wait_timeout_max
            )
            del query  # not kept alive for the whole hold
            opened = await watch_unless_answered(svc.hub, order_id, scope_client_key(scope), since)
            if opened is None:
                raise unknown_order(order_id)
        except Exception as exc:
            await render_error(exc, scope, receive, send)
            return
        if isinstance(opened, WaitResult):
            await _send_result(send, opened)  # answered at once, though a cap refused a watch
            return
        watch, current = opened
        result = answer_at_once(current, since)
        if result is not None:
            watch.close()
            await _send_result(send, result)
            return
        poll = LongPoll(svc.hub, watch, current, since, send)
        del opened, watch, current
        with svc.metrics.holding("long_poll"):
            poll.hold(timeout)
            try:
                # The request's body is complete (a GET), so `receive()` next answers when
                # the client leaves, or once the answer has been sent: either way the wait
                # is over, and a client that reset its connection frees its place at once.
                while (await receive())["type"] != "http.disconnect":
                    pass
            finally:
                poll.release()
        if poll.writer is not None:
            await poll.writer


class EventsEndpoint:
    """`GET /api/orders/{id}/events`: the Server-Sent Events stream (API.md)."""

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        return self.serve(scope["path_params"]["order_id"], scope, receive, send)

    async def serve(self, order_id: str, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            shaped_order_id(order_id)
            svc = scope_services(scope)
            settings = svc.settings
            # Both checked, so a bad one is a 400 whichever the client sent; the header wins.
            header = optional_version(scope_header(scope, b"last-event-id"), "Last-Event-ID")
            query = optional_version(_query(scope).get("last_event_id"), "last_event_id")
            stream = await open_stream(
                svc.hub,
                order_id,
                last_event_id=header if header is not None else query,
                max_lifetime=settings.sse_max_lifetime,
                client=scope_client_key(scope),
            )
            if stream is None:
                raise unknown_order(order_id)
        except Exception as exc:
            await render_error(exc, scope, receive, send)
            return
        if stream.finished:
            stream.close()
            # 204 tells a reconnecting EventSource to stop: it already has the final status.
            await send({"type": "http.response.start", "status": 204, "headers": [NO_STORE]})
            await send({"type": "http.response.body", "body": b""})
            return
        response = EventStream(
            stream,
            retry_ms=settings.sse_retry_ms,
            ping_interval=settings.sse_ping_interval,
            # A client that stopped reading is dropped instead of holding its buffers forever.
            send_timeout=settings.sse_send_timeout,
            headers=[NO_STORE],
        )
        with svc.metrics.holding("sse"):
            await response(scope, receive, send)


wait_endpoint = WaitEndpoint()
events_endpoint = EventsEndpoint()
# Routes too: other methods get the Router's 405, and the request observer (server/ops)
# labels a held request with its route template, set on the scope as the Router would.
wait_route = Route(ORDER_WAIT, wait_endpoint, methods=["GET"])
events_route = Route(ORDER_EVENTS, events_endpoint, methods=["GET"])


class HeldRoutesFastPath:
    """ASGI middleware: a GET for `/wait` or `/events` goes straight to its endpoint.

    `__call__` returns the awaitable it picks rather than awaiting it, so it adds no
    frame of its own to a held request. Anything else passes through to the Router.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] == "http" and scope["method"] == "GET":
            path = scope["path"]
            match = _WAIT.match(path)
            if match is not None:
                scope["route"] = wait_route
                return wait_endpoint.serve(match["order_id"], scope, receive, send)
            match = _EVENTS.match(path)
            if match is not None:
                scope["route"] = events_route
                return events_endpoint.serve(match["order_id"], scope, receive, send)
        return self.app(scope, receive, send)
