"""Catalogue and checkout: `GET /api/events`, `POST /api/orders`."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server.http_errors import ApiError
from server.orders.checkout import PushFailed
from server.orders.push_limits import PushLimited
from server.orders.sale_guard import SaleGuard, SaleRefused
from server.orders.unpaid_holds import TooManyUnpaidSeats
from server.orders.validation import CheckoutInvalid, parse_checkout
from server.payments.pushes import UNKNOWN
from server.routes.bodies import read_json_body
from server.services import services
from server.status.document import StatusUpdate
from server.urls import EVENTS, ORDERS, events_url, order_url, wait_url

MAX_ORDER_BODY = 8 * 1024


async def list_events(request: Request) -> Response:
    svc = services(request)
    return JSONResponse(await svc.catalogue.listing(svc.database))


_LIMITED = {
    "phone": "Too many payment prompts were sent to this phone number recently. Try again later.",
    "ip": "Too many payment requests came from your network recently. Try again later.",
}


_UNPAID = {
    "phone": "This phone number already has tickets waiting for payment. Pay or cancel those first.",
    "client": "Too many tickets are waiting for payment from your network. Try again in a minute.",
    "email": "This e-mail address already has tickets waiting for payment. Pay or cancel those first.",
}
# An unpaid hold ends with its prompt (about a minute) or its order's expiry.
UNPAID_RETRY_AFTER = 60


def client_address(request: Request) -> str:
    # server/ops/forwarded.py has already resolved this from X-Forwarded-For, trusting only
    # the proxies in FORWARDED_ALLOW_IPS. Parsing the header here would let any client
    # pick its own address, and with it a fresh allowance.
    return request.client.host if request.client else "unknown"


def order_json(update: StatusUpdate, **extra: str) -> bytes:
    """The order's answer: its status document and where to follow it (`OrderCreated`)."""
    order_id = update.order_id
    return update.json_with(
        status_url=f"/payment/{order_id}",
        events_url=events_url(order_id),
        wait_url=wait_url(order_id),
        **extra,
    ).encode()


def provider_refused(reason: str) -> dict[str, str]:
    """The fields a 502 adds to the document when PayHero refused a push (checkout, send again)."""
    return {
        "error": "payment_provider_error",
        "message": f"M-PESA could not be asked for the payment: {reason}",
    }


def _json(content: bytes, status_code: int, headers: dict[str, str] | None = None) -> Response:
    return Response(content, status_code, headers, media_type="application/json")


async def create_order(request: Request) -> Response:
    svc = services(request)
    body = await read_json_body(request, MAX_ORDER_BODY)
    try:
        # Validation first: a request with bad fields never counts against a push limit.
        checkout = parse_checkout(body, svc.catalogue)
        # Before the push limits: a refused sale sends no push, so it counts for nothing.
        await SaleGuard(svc.database, svc.catalogue).check(checkout)
        result = await svc.push_limits.place(svc.checkout, checkout, client_address(request))
    except CheckoutInvalid as exc:
        raise ApiError(422, "validation_error", "Some fields need fixing.", fields=exc.fields) from exc
    except SaleRefused as exc:
        raise ApiError(409, exc.code, exc.message) from exc
    except PushLimited as exc:
        raise ApiError(
            429,
            "too_many_requests",
            _LIMITED[exc.limit],
            headers={"Retry-After": str(exc.retry_after)},
            limit=exc.limit,
            retry_after=exc.retry_after,
        ) from exc
    except TooManyUnpaidSeats as exc:
        raise ApiError(
            429,
            "too_many_unpaid_seats",
            _UNPAID[exc.limit],
            headers={"Retry-After": str(UNPAID_RETRY_AFTER)},
            limit=exc.limit,
            retry_after=UNPAID_RETRY_AFTER,
        ) from exc
    except PushFailed as exc:
        return _json(order_json(exc.update, **provider_refused(exc.reason)), 502)
    update = result.update
    headers = {"Location": order_url(update.order_id)}
    if result.outcome == UNKNOWN:
        # PayHero's answer was lost: the prompt may be on the phone. The order waits for a
        # callback (matched by its order number) or the expiry pass; the page waits too.
        message = "M-PESA's answer did not arrive in time; the prompt may still reach the phone."
        return _json(order_json(update, push_outcome=UNKNOWN, message=message), 202, headers)
    return _json(order_json(update), 201, headers)


routes = [
    Route(EVENTS, list_events, methods=["GET"]),
    Route(ORDERS, create_order, methods=["POST"]),
]
