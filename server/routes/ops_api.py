"""The operator's routes: `GET /metrics` (Prometheus text format), `GET /openapi.json`."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.http_errors import ApiError
from server.ops.metrics import CONTENT_TYPE
from server.ops.openapi import openapi_json
from server.routes.auth import bearer_matches
from server.services import services
from server.urls import METRICS, OPENAPI


def _authorised(request: Request, token: str | None) -> bool:
    return token is None or bearer_matches(request, (token,))


async def metrics(request: Request) -> Response:
    svc = services(request)
    if not _authorised(request, svc.settings.metrics_token):
        raise ApiError(
            401, "unauthorized", "This needs the metrics token.", headers={"WWW-Authenticate": "Bearer"}
        )
    await svc.metrics.refresh(svc.database, svc.broker)
    return Response(svc.metrics.render(), media_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"})


async def openapi(request: Request) -> Response:
    return Response(openapi_json(), media_type="application/json")


routes = [
    Route(METRICS, metrics, methods=["GET"]),
    Route(OPENAPI, openapi, methods=["GET"]),
]
