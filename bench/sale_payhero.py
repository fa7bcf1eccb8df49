"""The flash sale's PayHero: a Starlette app on a loopback port that plays PayHero and every phone.

The service runs in live mode against it (`PAYHERO_BASE_URL`), so each checkout's STK push
crosses a real socket and waits for a real answer, as in production. Each push is answered
after the buyer's planned delay (some after the service's `PAYHERO_TIMEOUT`: their checkout
says "outcome unknown"), and the phone's answer is POSTed to the push's `callback_url`
later, in the shape the plan says (v2 or API 2.0's flat one), sometimes twice. The bodies
are server/payhero/fake.py's, which follow /work/shared/payhero/'s samples.

It records what the flash sale reports: how long it held each push (the part of a
checkout's time that is PayHero's, not the service's), when each order's decisive callback
left, and every answer the callback route gave.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import secrets
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bench.http import Connection, HttpError
from bench.sale_plan import FINAL_STATUS, BuyerPlan, index_of_phone
from server.payhero.fake import _check_push, callback_body, new_receipt

USERNAME, PASSWORD, CHANNEL = "flash-sale", "stand-in-" + secrets.token_hex(8), 4242
log = logging.getLogger("bench.flash_sale")


@dataclass
class Push:
    plan: BuyerPlan
    attempt: int
    order_number: str
    callback_url: str
    amount: int
    phone: str
    reference: str
    checkout_request_id: str
    status: str = "QUEUED"
    receipt: str | None = None


@dataclass
class StandIn:
    plans: dict[int, BuyerPlan]
    # Seconds each push was held before its answer, by order number and attempt.
    held: dict[tuple[str, int], float] = field(default_factory=dict)
    # perf_counter() when each order's decisive callback (the one that ends it) was sent.
    decisive_sent: dict[str, float] = field(default_factory=dict)
    # (kind of callback, what the route answered) -> count; kind: decisive, duplicate, late.
    answers: Counter[tuple[str, str]] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    last_callback_at: float = 0.0

    def __post_init__(self) -> None:
        self.pushes: dict[str, Push] = {}
        self.by_order: dict[str, list[Push]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.app = Starlette(
            routes=[
                Route("/api/v2/payments", self._payments, methods=["POST"]),
                Route("/api/v2/transaction-status", self._transaction_status, methods=["GET"]),
            ]
        )

    async def settled(self, timeout: float) -> None:
        """Once every callback planned so far has been sent (duplicates come last)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=max(0.0, timeout))

    def _authorised(self, request: Request) -> bool:
        expected = "Basic " + base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
        return secrets.compare_digest(request.headers.get("authorization", ""), expected)

    async def _payments(self, request: Request) -> Response:
        arrived = time.perf_counter()
        if not self._authorised(request):
            return JSONResponse({"error_message": "Invalid API credentials"}, status_code=401)
        body = await request.json()
        problem = _check_push(body, CHANNEL)
        plan = self.plans.get(index_of_phone(str(body.get("phone_number", "0"))))
        if problem or plan is None:
            self.failures.append(f"push refused: {problem or 'unknown phone'}")
            return JSONResponse({"error_message": problem or "unknown phone"}, status_code=400)
        number = body["external_reference"]
        earlier = self.by_order.setdefault(number, [])
        attempt = len(earlier) + 1
        push = Push(
            plan=plan,
            attempt=attempt,
            order_number=number,
            callback_url=body["callback_url"],
            amount=body["amount"],
            phone=body["phone_number"],
            reference=f"SALE-{plan.index}-{attempt}",
            checkout_request_id=f"ws_CO_SALE_{plan.index:08d}_{attempt}",
        )
        earlier.append(push)
        self.pushes[push.reference] = push
        delay = plan.push_delays[min(attempt, len(plan.push_delays)) - 1]
        result = plan.result(attempt)
        if result is not None:
            after = delay + plan.callback_after[min(attempt, len(plan.callback_after)) - 1]
            self._later(self._answer(push, result, after))
        if attempt == 2 and plan.late_first_after is not None:
            # The first prompt's own "could not reach the phone", after the buyer asked again.
            self._later(self._late_failure(earlier[0], plan.late_first_after))
        await asyncio.sleep(delay)
        self.held[(number, attempt)] = time.perf_counter() - arrived
        answer = {
            "success": True,
            "status": "QUEUED",
            "reference": push.reference,
            "CheckoutRequestID": push.checkout_request_id,
        }
        return JSONResponse(answer, status_code=201)

    async def _transaction_status(self, request: Request) -> Response:
        if not self._authorised(request):
            return JSONResponse({"error_message": "Invalid API credentials"}, status_code=401)
        push = self.pushes.get(request.query_params.get("reference", ""))
        if push is None:
            return JSONResponse({"error_message": "Transaction not found"}, status_code=404)
        receipt = push.receipt or ""
        return JSONResponse(
            {
                "transaction_date": "",
                "provider": "m-pesa",
                "success": push.status == "SUCCESS",
                "status": push.status,
                "reference": push.reference,
                "CheckoutRequestID": push.checkout_request_id,
                "provider_reference": receipt,
                "third_party_reference": receipt,
            }
        )

    def _later(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _body(self, push: Push, result: str) -> bytes:
        push.status = "SUCCESS" if result == "success" else "FAILED"
        if result == "success":
            push.receipt = push.receipt or new_receipt()
        body = callback_body(
            result=result,
            external_reference=push.order_number,
            checkout_request_id=push.checkout_request_id,
            amount=push.amount,
            phone=push.phone,
            receipt=push.receipt,
            shape=push.plan.shape,
            reference=push.reference,
        )
        return json.dumps(body).encode()

    async def _answer(self, push: Push, result: str, after: float) -> None:
        await asyncio.sleep(after)
        body = self._body(push, result)
        self.decisive_sent[push.order_number] = time.perf_counter()
        await self._send(push.callback_url, body, "decisive")
        if push.plan.duplicate_after is not None:
            await asyncio.sleep(push.plan.duplicate_after)
            await self._send(push.callback_url, body, "duplicate")

    async def _late_failure(self, push: Push, after: float) -> None:
        await asyncio.sleep(after)
        final = FINAL_STATUS[push.plan.outcome]
        await self._send(push.callback_url, self._body(push, "unreachable"), "late", final)

    async def _send(self, url: str, body: bytes, kind: str, final: str | None = None) -> None:
        # PayHero opens a connection per callback; so does its stand-in.
        where = urlsplit(url)
        try:
            connection = await Connection.open(where.hostname or "127.0.0.1", where.port or 80)
        except OSError as exc:
            self.failures.append(f"{kind} callback: connect {exc}")
            return
        try:
            headers = {"Content-Type": "application/json"}
            response = await connection.request("POST", where.path, body=body, headers=headers)
        except (HttpError, TimeoutError) as exc:
            self.failures.append(f"{kind} callback: {type(exc).__name__} {exc}")
            return
        finally:
            connection.close()
        self.last_callback_at = time.perf_counter()
        label = str(response.status)
        if response.status == 200:
            answer = json.loads(response.body)
            label = "review:" + answer["review"] if "review" in answer else answer.get("ignored", "applied")
            if kind == "late" and label == "applied" and answer.get("payment_status") == final == "expired":
                # Sent while the order was open, read once expiry had ended it (a loaded
                # host): a duplicate of its final state, answered as an applied one is.
                label = "after_expiry"
        self.answers[(kind, label)] += 1
        # A late failure of a superseded push changes nothing, whether it is read while the
        # second prompt is open or after the order ended; everything else must apply. The
        # orders' final statuses are checked against the plan besides (sale_audit).
        # `ambiguous_push`: both prompts' answers were lost (PayHero slow past the timeout)
        # and PayHero's record did not say which prompt failed, so the failure changes
        # nothing either (server/payments/attribution.py); the open prompt decides.
        late_ok = {"superseded_push", "ambiguous_push", "already_completed", "after_expiry"}
        expected = late_ok if kind == "late" else {"applied"}
        if label not in expected:
            self.failures.append(f"{kind} callback answered {label}: {response.body[:160]!r}")

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task


@contextlib.asynccontextmanager
async def serving(stand_in: StandIn) -> AsyncIterator[str]:
    """The stand-in on a free loopback port, in this process; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(stand_in.app, log_level="warning", lifespan="off", access_log=False, backlog=4096)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        await stand_in.aclose()
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)
        sock.close()


def live_env(base_url: str) -> dict[str, str]:
    """The service's settings for live mode against the stand-in."""
    return {
        "PAYHERO_MODE": "live",
        "PAYHERO_BASE_URL": base_url,
        "PAYHERO_API_USERNAME": USERNAME,
        "PAYHERO_API_PASSWORD": PASSWORD,
        "PAYHERO_CHANNEL_ID": str(CHANNEL),
        # Live mode wants the secrets that outlive a disk from the environment (issue 19).
        "TICKET_SIGNING_KEY": "bench-ticket-signing-key-" + "k" * 24,
        "CALLBACK_TOKEN": "bench-callback-token-" + "c" * 24,
    }
