"""`GET /metrics`: the counters of `server.metrics`, in the Prometheus text format."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from server.metrics import RequestCounts, render
from server.services import services

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


async def metrics(request: Request) -> Response:
    counts: RequestCounts = request.state.requests
    return PlainTextResponse(
        render(services(request), counts), media_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"}
    )


routes = [Route("/metrics", metrics, methods=["GET"])]
