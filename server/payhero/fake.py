"""A PayHero of our own: a small Starlette app that speaks PayHero's shapes.

Sandbox mode puts it behind the real `PayHeroClient` (through httpx's ASGI transport), and
it plays the customer too: after `answer_delay` it POSTs a PayHero-shaped callback to the
push's `callback_url` over real HTTP, so the whole path runs as in production. Tests serve
it the same way, or on a real port, and can make it behave as PayHero does in the field:
refuse; take the push and answer it only after the client has given up (`stall_seconds`),
the customer paying anyway; call back before answering the push (`callback_first`); pay
another amount (`pay_amount`); and send either callback shape (`callback_shape`: the v2
nested one or API 2.0's flat one).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server.json_types import JSONValue
from server.payhero.client import shared_tls_context
from server.payhero.shapes import (
    CallbackBody,
    FlatCallback,
    StkPushAnswer,
    StkPushRequest,
    TransactionStatusAnswer,
    V2Callback,
)

log = logging.getLogger("server.payhero.sandbox")

# ResultCode and ResultDesc for each simulated answer, as M-PESA words them.
RESULTS: dict[str, tuple[int, str]] = {
    "success": (0, "The service request is processed successfully."),
    "cancelled": (1032, "Request cancelled by user"),
    "insufficient": (1, "The balance is insufficient for the transaction."),
    "unreachable": (1037, "DS timeout user cannot be reached"),
    "wrong-pin": (2001, "The initiator information is invalid."),
}

# The sandbox customer's answer, picked by the phone number's last four digits (API.md).
PHONE_SUFFIX_RESULTS: dict[str, str | None] = {
    "1032": "cancelled",
    "0001": "insufficient",
    "1037": "unreachable",
    "2001": "wrong-pin",
    "9999": None,  # never answers
}


def sandbox_result(phone: str) -> str | None:
    return PHONE_SUFFIX_RESULTS.get(phone[-4:], "success")


def new_receipt() -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
    return "S" + "".join(secrets.choice(alphabet) for _ in range(9))


def callback_body(
    *,
    result: str,
    external_reference: str,
    checkout_request_id: str,
    amount: int,
    phone: str,
    receipt: str | None = None,
    shape: str = "v2",
    reference: str = "",
) -> CallbackBody:
    """A callback exactly as PayHero sends it (see tests/payhero_samples/)."""
    code, description = RESULTS[result]
    paid = code == 0
    if shape == "flat":
        return flat_callback_body(
            result=result,
            external_reference=external_reference,
            reference=reference,
            amount=amount,
            receipt=(receipt or new_receipt()) if paid else None,
        )
    v2: V2Callback = {
        "forward_url": "",
        "response": {
            "Amount": amount,
            "CheckoutRequestID": checkout_request_id,
            "ExternalReference": external_reference,
            "MerchantRequestID": f"{secrets.randbelow(9000) + 1000}-{secrets.randbelow(10**8):08d}-1",
            "MpesaReceiptNumber": (receipt or new_receipt()) if paid else "",
            "Phone": "+" + phone.lstrip("+"),
            "ResultCode": code,
            "ResultDesc": description,
            "Status": "Success" if paid else "Failed",
        },
        "status": paid,
    }
    return v2


# What M-PESA says in API 2.0's flat callback, where there is no ResultCode.
FLAT_MESSAGES = {"cancelled": "Request Cancelled by user."}


def flat_callback_body(
    *, result: str, external_reference: str, reference: str, amount: int, receipt: str | None
) -> FlatCallback:
    """API 2.0's flat result callback (docs/PAYHERO.md, tests/payhero_samples/flat-*.json)."""
    code, description = RESULTS[result]
    paid = code == 0
    return {
        "success": paid,
        "status": "success" if paid else "failed",
        "message": FLAT_MESSAGES.get(result, description),
        "reference": reference,
        "external_reference": external_reference,
        "amount": amount,
        "currency": "KES",
        "transaction_id": "",
        "transaction_date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "transaction_type": "inbound_payment",
        "provider_reference": receipt if paid and receipt else "",
        "provider": "mpesa_dc",
        "callback_urls": None,
    }


@dataclass
class Push:
    amount: int
    phone: str
    external_reference: str
    callback_url: str
    reference: str
    checkout_request_id: str
    result: str | None
    status: str = "QUEUED"
    receipt: str | None = None
    callbacks_sent: int = 0
    created_at: float = 0.0
    # When PayHero took it (wall clock, epoch ms): transaction-status's `transaction_date`.
    taken_ms: int = 0
    # What the customer paid (transaction-status's `amount`); the amount asked until then.
    paid_amount: int | None = None


@dataclass
class FakePayHero:
    username: str
    password: str
    channel_id: int
    # Seconds before the simulated customer answers; None: the test sends callbacks itself.
    answer_delay: float | None = None
    sandbox_names: bool = True
    refuse_with: tuple[int, str] | None = None
    # The push is taken (and answered by the customer) at once; the HTTP answer waits this long.
    stall_seconds: float = 0.0
    # The customer's answer is POSTed before the push's HTTP answer (needs a phone's result).
    callback_first: bool = False
    # The customer pays this amount instead of the one asked for.
    pay_amount: int | None = None
    callback_shape: str = "v2"
    # Awaited before each answer with its route ("payments", "transaction-status"): a test
    # holds PayHero there to run something while a push or a status check is in flight.
    before_answer: Callable[[str], Awaitable[None]] | None = None
    # Pushes carry the customer's phone and the request bodies their name too, and the
    # sandbox runs inside a service that may run for months: both are bounded (issue 15).
    # A push is kept for `push_ttl` seconds (the expiry check asks transaction-status about
    # it), and at most `keep_pushes` of them; only the last `keep_requests` bodies are kept.
    pushes: dict[str, Push] = field(default_factory=dict)
    # The push requests' bodies as received, a malformed one too.
    requests: list[JSONValue] = field(default_factory=list)
    push_ttl: float = 3600.0
    keep_pushes: int = 10_000
    keep_requests: int = 100
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        # How many of `pushes` each order has: the sandbox's name for a push sent again,
        # counted as pushes come and go rather than by a scan of up to `keep_pushes` of them
        # per checkout (0.65 ms of a checkout's CPU with 2,000 kept, on a slow host).
        self._kept_of_order: dict[str, int] = {}
        self._http: httpx.AsyncClient | None = None
        self.app = Starlette(
            routes=[
                Route("/api/v2/payments", self._payments, methods=["POST"]),
                Route("/api/v2/transaction-status", self._transaction_status, methods=["GET"]),
            ]
        )

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        if self._http is not None:
            await self._http.aclose()

    def _authorised(self, request: Request) -> bool:
        expected = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        given = request.headers.get("authorization", "")
        return secrets.compare_digest(given, f"Basic {expected}")

    async def _payments(self, request: Request) -> Response:
        if not self._authorised(request):
            return JSONResponse({"error_message": "Invalid API credentials"}, status_code=401)
        try:
            body: JSONValue = await request.json()
        except ValueError:
            return JSONResponse({"error_message": "Invalid JSON"}, status_code=400)
        self.requests.append(body)
        del self.requests[: -self.keep_requests]
        taken = _parse_push(body, self.channel_id)
        if isinstance(taken, str):
            return JSONResponse({"error_message": taken}, status_code=400)
        if self.refuse_with is not None:
            status, message = self.refuse_with
            return JSONResponse({"success": False, "error_message": message}, status_code=status)
        push = self._take(taken)
        if self.callback_first and push.result is not None:
            await self._answer_later(push, 0.0)
        elif self.answer_delay is not None and push.result is not None:
            task = asyncio.create_task(self._answer_later(push, self.answer_delay))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if self.stall_seconds:
            # Taken, and the prompt is on the phone; only PayHero's answer is late.
            await asyncio.sleep(self.stall_seconds)
        if self.before_answer is not None:
            await self.before_answer("payments")
        answer: StkPushAnswer = {
            "success": True,
            "status": "QUEUED",
            "reference": push.reference,
            "CheckoutRequestID": push.checkout_request_id,
        }
        return JSONResponse(answer, status_code=201)

    def _take(self, body: StkPushRequest) -> Push:
        external = body["external_reference"]
        # First, so a push forgotten is not counted in the name of the next one.
        self._forget_old_pushes()
        if self.sandbox_names:
            # The first push of an order keeps the documented names; one sent again gets -2, -3...
            again = self._kept_of_order.get(external, 0)
            suffix = f"-{again + 1}" if again else ""
            reference, checkout = f"SANDBOX-{external}{suffix}", f"ws_CO_SANDBOX_{external}{suffix}"
        else:
            reference, checkout = secrets.token_hex(5).upper(), f"ws_CO_{secrets.randbelow(10**20):020d}"
        push = Push(
            amount=body["amount"],
            phone=body["phone_number"],
            external_reference=external,
            callback_url=body["callback_url"],
            reference=reference,
            checkout_request_id=checkout,
            result=sandbox_result(body["phone_number"]),
            created_at=self.clock(),
            taken_ms=int(time.time() * 1000),
        )
        self.pushes[reference] = push
        self._kept_of_order[external] = self._kept_of_order.get(external, 0) + 1
        return push

    def _forget_old_pushes(self) -> None:
        # Oldest first: a dict keeps insertion order, and pushes are inserted as they come.
        cutoff = self.clock() - self.push_ttl
        while self.pushes:
            oldest = next(iter(self.pushes))
            if self.pushes[oldest].created_at > cutoff and len(self.pushes) < self.keep_pushes:
                return
            external = self.pushes.pop(oldest).external_reference
            left = self._kept_of_order[external] - 1
            if left:
                self._kept_of_order[external] = left
            else:
                del self._kept_of_order[external]

    async def _transaction_status(self, request: Request) -> Response:
        if not self._authorised(request):
            return JSONResponse({"error_message": "Invalid API credentials"}, status_code=401)
        push = self.pushes.get(request.query_params.get("reference", ""))
        if self.before_answer is not None:
            await self.before_answer("transaction-status")
        if push is None:
            return JSONResponse({"error_message": "Transaction not found"}, status_code=404)
        taken = datetime.fromtimestamp(push.taken_ms / 1000, UTC).isoformat().replace("+00:00", "Z")
        answer: TransactionStatusAnswer = {
            "transaction_date": taken,
            "amount": push.amount if push.paid_amount is None else push.paid_amount,
            "external_reference": push.external_reference,
            "provider": "m-pesa",
            "success": push.status == "SUCCESS",
            "status": push.status,
            "reference": push.reference,
            "CheckoutRequestID": push.checkout_request_id,
            "provider_reference": push.receipt or "",
            "third_party_reference": push.receipt or "",
        }
        return JSONResponse(answer)

    def settle(self, push: Push, result: str, *, shape: str | None = None) -> CallbackBody:
        """Decide the customer's answer and return the callback PayHero would send."""
        push.result = result
        push.status = "SUCCESS" if result == "success" else "FAILED"
        if result == "success":
            push.receipt = push.receipt or new_receipt()
            push.paid_amount = push.amount if self.pay_amount is None else self.pay_amount
        return callback_body(
            result=result,
            external_reference=push.external_reference,
            checkout_request_id=push.checkout_request_id,
            amount=push.amount if self.pay_amount is None else self.pay_amount,
            phone=push.phone,
            receipt=push.receipt,
            shape=shape or self.callback_shape,
            reference=push.reference,
        )

    async def _answer_later(self, push: Push, delay: float) -> None:
        await asyncio.sleep(delay)
        assert push.result is not None
        body = self.settle(push, push.result)
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=10.0, verify=shared_tls_context())
        try:
            response = await self._http.post(push.callback_url, json=body)
            push.callbacks_sent += 1
            log.info(
                "sandbox customer answered %s for %s: callback got %d",
                push.result,
                push.external_reference,
                response.status_code,
            )
        except httpx.HTTPError as exc:
            log.warning("sandbox callback for %s failed: %s", push.external_reference, exc)


def _parse_push(body: JSONValue, channel_id: int) -> StkPushRequest | str:
    """The push request as PayHero would take it, or what PayHero would say is wrong."""
    if not isinstance(body, dict):
        return "Request body must be a JSON object"
    amount = body.get("amount")
    if not isinstance(amount, int) or amount <= 0:
        return "amount must be a positive integer"
    phone = body.get("phone_number")
    if not isinstance(phone, str) or not phone.isdigit() or len(phone) not in (10, 12):
        return "phone_number is invalid"
    if body.get("channel_id") != channel_id:
        return "channel_id does not belong to this account"
    if body.get("provider") != "m-pesa":
        return "provider must be m-pesa"
    external = body.get("external_reference")
    if not isinstance(external, str) or not external:
        return "external_reference is required"
    url = body.get("callback_url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return "callback_url must be an http(s) URL"
    # `customer_name` is optional, and nothing here shows it.
    return {
        "amount": amount,
        "phone_number": phone,
        "channel_id": channel_id,
        "provider": "m-pesa",
        "external_reference": external,
        "callback_url": url,
    }


def _check_push(body: JSONValue, channel_id: int) -> str | None:
    """What PayHero would say is wrong with the push request; None when nothing is."""
    problem = _parse_push(body, channel_id)
    return problem if isinstance(problem, str) else None
