"""The gate without a network: the admission list a device keeps, and the queue of check-ins
it sends when it is back online. Gate staff only; no personal data either way."""

from __future__ import annotations

import asyncio
import gzip
import json
from datetime import datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server.http_errors import ApiError
from server.routes.bodies import read_json_body
from server.routes.checkout_api import client_address
from server.routes.gate_counts import event_slug_of
from server.routes.ticket_api import NO_STORE, gate_name_of, gate_staff_only
from server.services import services
from server.tickets.gate_limits import GateLimited
from server.tickets.offline_check_ins import MAX_BATCH, QueuedCheckIn
from server.tickets.typed_codes import MAX_TYPED_LENGTH
from server.urls import GATE_ADMISSION_LIST, GATE_CHECK_INS
from server.web_encoding import accepts_gzip

MAX_BATCH_BODY = 128 * 1024


async def admission_list(request: Request) -> Response:
    svc = services(request)
    gate_staff_only(request, svc.settings.gate_tokens)
    built = await svc.admission_lists.build(event_slug_of(request))
    body = json.dumps(built.body(), separators=(",", ":")).encode()
    headers = {**NO_STORE, "Vary": "Accept-Encoding"}
    # Gzipped on the wire: the list is what a venue's failing network has to carry (a
    # 10,000-ticket event: about 205 KB, tests/test_gate_offline_list.py).
    if accepts_gzip(request.headers.get("accept-encoding", "")):
        body = await asyncio.to_thread(gzip.compress, body, 6)
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type="application/json", headers=headers)


def _bad(message: str) -> ApiError:
    return ApiError(400, "invalid_parameter", message, fields={"check_ins": message})


def _queued(raw: object) -> list[QueuedCheckIn]:
    if not isinstance(raw, list) or not raw or len(raw) > MAX_BATCH:
        raise _bad(f"check_ins must be a list of 1 to {MAX_BATCH} scans")
    queued = []
    for item in raw:
        code = item.get("code") if isinstance(item, dict) else None
        scanned = item.get("scanned_at") if isinstance(item, dict) else None
        if not isinstance(code, str) or not code.strip() or len(code) > MAX_TYPED_LENGTH:
            raise _bad('each scan needs a "code"')
        try:
            moment = datetime.fromisoformat(str(scanned).replace("Z", "+00:00"))
        except ValueError:
            raise _bad('each scan needs "scanned_at", an ISO 8601 time with its offset') from None
        if moment.tzinfo is None:
            raise _bad('each scan needs "scanned_at", an ISO 8601 time with its offset')
        queued.append(QueuedCheckIn(code, int(moment.timestamp() * 1000)))
    return queued


async def queued_check_ins(request: Request) -> Response:
    svc = services(request)
    token = gate_staff_only(request, svc.settings.gate_tokens)
    body = await read_json_body(request, MAX_BATCH_BODY)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", 'The body must be a JSON object like {"check_ins": [...]}.')
    gate_name = gate_name_of(body.get("gate"))
    queued = _queued(body.get("check_ins"))
    results = []
    touched: set[str] = set()
    retry_after = None
    for item in queued:
        # Each code counts against the guessing limits, as one check-in would; past a limit
        # the rest stay in the device's queue for its next send.
        try:
            await svc.gate_limits.take(client_address(request), token)
        except GateLimited as exc:
            retry_after = exc.retry_after
            break
        outcome = await svc.offline_check_ins.record(item, gate_name)
        results.append(outcome.body())
        if outcome.event_slug is not None and outcome.result != "not_valid":
            touched.add(outcome.event_slug)
    for slug in touched:
        svc.admitted.announce_soon(slug)
    answer = {"results": results, "unanswered": len(queued) - len(results), "retry_after": retry_after}
    return JSONResponse(answer, headers=NO_STORE)


routes = [
    Route(GATE_ADMISSION_LIST, admission_list, methods=["GET"]),
    Route(GATE_CHECK_INS, queued_check_ins, methods=["POST"]),
]
