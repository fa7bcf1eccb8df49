"""PayHero's callback: `POST /api/payhero/callback/{token}`, a bare ASGI app with a fast path.

What the service spends on a callback bounds how many it applies a second (issue 22). Through
Starlette's Router a callback paid for a scan of the routes' patterns before its own, a
Request and a JSONResponse, and eight coroutine frames (the exception middleware, the
Router, the Route, `request_response`'s wrappers) that each of its dozen database round trips
resumed again. `CallbackFastPath` sends a POST for it straight to `CallbackEndpoint`, as
`HeldRoutesFastPath` does for the held routes; it is still a Starlette Route too (another
method gets 405, the metrics see its template), and its errors are rendered by the app's
own exception handlers.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable

from starlette.requests import Request
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from server.http_errors import ApiError, render_error
from server.json_text import compact_json
from server.payhero.callback_parser import CallbackInvalid
from server.routes.bodies import read_body
from server.services import scope_services
from server.urls import CALLBACK, router_pattern

# The Router's own pattern of the template: the fast path matches exactly what it would.
_CALLBACK = router_pattern(CALLBACK)
_JSON = (b"content-type", b"application/json")


class CallbackEndpoint:
    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        return self.serve(scope["path_params"]["token"], scope, receive, send)

    async def serve(self, token: str, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            svc = scope_services(scope)
            # Constant time, and the same 404 as any unknown path: a wrong token learns nothing.
            if not hmac.compare_digest(token.encode(), svc.settings.callback_token.encode()):
                raise ApiError(404, "not_found", "Not Found")
            body = await read_body(Request(scope, receive), svc.settings.callback_max_bytes)
            try:
                outcome = await svc.callbacks.receive(body)
            except CallbackInvalid as exc:
                raise ApiError(400, "invalid_callback", f"Not a PayHero callback: {exc}") from exc
        except Exception as exc:
            await render_error(exc, scope, receive, send)
            return
        # The bytes and headers Starlette's JSONResponse would send.
        encoded = compact_json(outcome.body()).encode("utf-8")
        headers = [(b"content-length", b"%d" % len(encoded)), _JSON]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": encoded})


callback_endpoint = CallbackEndpoint()
callback_route = Route(CALLBACK, callback_endpoint, methods=["POST"])
routes = [callback_route]


class CallbackFastPath:
    """ASGI middleware: a POST to the callback's path goes straight to its endpoint.

    Returns the awaitable it picks rather than awaiting it: no frame of its own on any
    request. Anything else passes through to the Router."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] == "http" and scope["method"] == "POST":
            match = _CALLBACK.match(scope["path"])
            if match is not None:
                scope["route"] = callback_route
                return callback_endpoint.serve(match["token"], scope, receive, send)
        return self.app(scope, receive, send)
