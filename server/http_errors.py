"""Every error leaves the service as JSON: `{"error": code, "message": text, ...}`."""

from __future__ import annotations

import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from server.status.hub import HubUnavailable
from server.store.failures import StoreUnavailable

log = logging.getLogger("server.http_errors")

STORE_RETRY_AFTER = 2

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    422: "validation_error",
    429: "too_many_requests",
    431: "headers_too_large",
    503: "unavailable",
}


class ApiError(Exception):
    """Raised by handlers and domain code; rendered as the API's JSON error."""

    def __init__(
        self,
        status_code: int,
        error: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error = error
        self.message = message
        self.headers = headers
        self.extra = extra


def error_response(
    status_code: int,
    error: str,
    message: str,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {"error": error, "message": message, **extra}
    return JSONResponse(body, status_code=status_code, headers=headers)


async def api_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status_code, exc.error, exc.message, headers=exc.headers, **exc.extra)


async def http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _CODES.get(exc.status_code, "http_error")
    headers = dict(exc.headers) if exc.headers else None
    return error_response(exc.status_code, code, str(exc.detail), headers=headers)


async def hub_unavailable_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HubUnavailable)
    headers = {"Retry-After": str(exc.retry_after)}
    error = "too_many_waiters" if exc.status_code == 429 else "unavailable"
    return error_response(exc.status_code, error, f"Try again shortly: {exc.reason}.", headers=headers)


async def store_unavailable_handler(request: Request, exc: Exception) -> Response:
    # Only what server/store/ translated into StoreUnavailable: a bug in a statement (a
    # missing column) is not that, and is answered as a 500 with its traceback logged.
    log.warning("store unavailable on %s %s: %s", request.method, request.url.path, exc)
    headers = {"Retry-After": str(STORE_RETRY_AFTER)}
    message = "The service cannot reach its database right now; nothing was changed. Try again shortly."
    return error_response(503, "store_unavailable", message, headers=headers)


# nginx's "client closed request": nobody reads it, but the request observer counts it as
# what it is, a client's doing, and never as a 5xx of ours.
CLIENT_CLOSED = 499


async def client_disconnect_handler(request: Request, exc: Exception) -> Response:
    # A client that drops its connection mid-body (a phone losing signal, a scanner): no
    # traceback, no 5xx, a counter of its own (issue 24).
    assert isinstance(exc, ClientDisconnect)
    log.info("client went away mid-body on %s %s", request.method, request.url.path)
    services = (request.scope.get("state") or {}).get("services")
    if services is not None:
        services.metrics.client_disconnects.inc()
    return Response(status_code=CLIENT_CLOSED)


async def unexpected_error_handler(request: Request, exc: Exception) -> Response:
    # The traceback goes to the log, never to the client.
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    # Sent by ServerErrorMiddleware, outside the request observer (server/ops/request_metrics.py),
    # so counted here, by route template as the observer counts.
    services = (request.scope.get("state") or {}).get("services")
    if services is not None:
        route = getattr(request.scope.get("route"), "path", None)
        services.metrics.request_done(request.method, route if isinstance(route, str) else None, 500)
    return error_response(500, "internal_error", "The service hit an unexpected error.")


EXCEPTION_HANDLERS: dict[Any, Any] = {
    ApiError: api_error_handler,
    HTTPException: http_error_handler,
    HubUnavailable: hub_unavailable_handler,
    StoreUnavailable: store_unavailable_handler,
    ClientDisconnect: client_disconnect_handler,
    Exception: unexpected_error_handler,
}


async def render_error(exc: Exception, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer `exc` as the app's exception handlers would; re-raise what none handles."""
    for cls in type(exc).__mro__:
        if cls is not Exception and cls in EXCEPTION_HANDLERS:
            response = await EXCEPTION_HANDLERS[cls](Request(scope, receive), exc)
            await response(scope, receive, send)
            return
    raise exc  # a bug: ServerErrorMiddleware logs it and answers a JSON 500
