"""`GET /api/gate/session`: the gate page checks its token here when the attendant enters
it, before any ticket, and learns the events it admits to (with their clocks)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server.routes.ticket_api import NO_STORE, gate_staff_only
from server.services import services
from server.urls import GATE_SESSION


async def gate_session(request: Request) -> Response:
    svc = services(request)
    gate_staff_only(request, svc.settings.gate_tokens)
    return JSONResponse(
        {"ok": True, "events": [event.body() for event in svc.gate.events()]}, headers=NO_STORE
    )


routes = [Route(GATE_SESSION, gate_session, methods=["GET"])]
