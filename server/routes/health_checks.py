"""Liveness and readiness, for the platform's router and the operator."""

from __future__ import annotations

import asyncio
import os

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server.services import services
from server.urls import HEALTHZ, READYZ

CHECK_TIMEOUT = 2.0


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})


async def readyz(request: Request) -> Response:
    svc = services(request)
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            await svc.database.fetch_val("SELECT 1")
        database = "ok"
    except Exception:
        database = "unavailable"
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            broker_ok = await svc.broker.ping()
    except Exception:
        broker_ok = False
    broker = "ok" if broker_ok else "degraded"
    body = {
        "status": "ok" if database == "ok" and broker_ok else "degraded",
        "database": database,
        "store": svc.settings.store_kind,
        "broker": broker,
        "broker_kind": svc.broker.kind,
        "waiters": svc.hub.watch_count,
        "draining": svc.hub.draining,
        # Requests whose X-Forwarded-For came from a peer FORWARDED_ALLOW_IPS does not
        # trust (ignored): above 0 behind a proxy, its address is missing from the list.
        "untrusted_forwarded": svc.untrusted_forwarding.requests,
        # Which worker answered: with WEB_CONCURRENCY > 1 each has its own waiters and numbers.
        "process": os.getpid(),
    }
    # Without its database the service cannot answer; without the broker it still can,
    # through the store's safety net, so that is reported but keeps the process in rotation.
    status = 200 if database == "ok" else 503
    return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


routes = [
    Route(HEALTHZ, healthz, methods=["GET"]),
    Route(READYZ, readyz, methods=["GET"]),
]
