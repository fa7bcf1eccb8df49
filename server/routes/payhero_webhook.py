"""PayHero's callback: `POST /api/payhero/callback/{token}`."""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server.http_errors import ApiError
from server.payhero.callback_parser import CallbackInvalid
from server.routes.bodies import read_body
from server.services import services
from server.urls import CALLBACK


async def payhero_callback(request: Request) -> Response:
    svc = services(request)
    token = request.path_params["token"]
    # Constant time, and the same 404 as any unknown path: a wrong token learns nothing.
    if not hmac.compare_digest(token.encode(), svc.settings.callback_token.encode()):
        raise ApiError(404, "not_found", "Not Found")
    body = await read_body(request, svc.settings.callback_max_bytes)
    try:
        outcome = await svc.callbacks.receive(body)
    except CallbackInvalid as exc:
        raise ApiError(400, "invalid_callback", f"Not a PayHero callback: {exc}") from exc
    return JSONResponse(outcome.body())


routes = [Route(CALLBACK, payhero_callback, methods=["POST"])]
