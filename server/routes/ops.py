"""The operator's routes: `GET /metrics` (Prometheus text format), `GET /openapi.json`."""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server.errors import ApiError
from server.ops.metrics import CONTENT_TYPE
from server.ops.openapi import openapi_document
from server.services import services


def _authorised(request: Request, token: str | None) -> bool:
    if token is None:
        return True
    offered = request.headers.get("authorization", "")
    # Constant time, like the callback secret.
    return hmac.compare_digest(offered.encode(), f"Bearer {token}".encode())


async def metrics(request: Request) -> Response:
    svc = services(request)
    if not _authorised(request, svc.settings.metrics_token):
        raise ApiError(
            401, "unauthorized", "This needs the metrics token.", headers={"WWW-Authenticate": "Bearer"}
        )
    await svc.metrics.refresh(svc.database, svc.broker)
    return Response(svc.metrics.render(), media_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"})


async def openapi(request: Request) -> Response:
    return JSONResponse(openapi_document())


routes = [
    Route("/metrics", metrics, methods=["GET"]),
    Route("/openapi.json", openapi, methods=["GET"]),
]
