"""Status routes: the document, the long poll and the event stream, and what a waiting
customer may do with only the order id: send the prompt again, or cancel. No personal data."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.http_errors import ApiError
from server.orders.prompts import OrderFinal, PromptOpen
from server.orders.push_limits import PushLimited
from server.payments.pushes import REFUSED, UNKNOWN
from server.routes.bodies import read_no_body
from server.routes.checkout_api import client_address, provider_refused
from server.routes.held import events_route, shaped_order_id, unknown_order, wait_route
from server.services import services
from server.transitions.change import OrderNotFound
from server.urls import ORDER, ORDER_CANCEL, ORDER_PUSH

NO_STORE = {"Cache-Control": "no-store"}


def _json(body: str, status_code: int = 200) -> Response:
    # Status documents arrive already encoded: send the bytes as they are.
    return Response(body, status_code, media_type="application/json", headers=NO_STORE)


async def get_order(request: Request) -> Response:
    order_id = shaped_order_id(request.path_params["order_id"])
    update = await services(request).reader.get(order_id)
    if update is None:
        raise unknown_order(order_id)
    return _json(update.json)


def _order_final(exc: OrderFinal) -> ApiError:
    return ApiError(
        409,
        "order_final",
        f"This order is already {exc.update.payment_status}.",
        payment_status=exc.update.payment_status,
    )


async def push_again(request: Request) -> Response:
    order_id = shaped_order_id(request.path_params["order_id"])
    await read_no_body(request)
    svc = services(request)
    try:
        result = await svc.prompts.send_again(order_id, client_address(request))
    except OrderNotFound:
        raise unknown_order(order_id) from None
    except OrderFinal as exc:
        raise _order_final(exc) from None
    except PromptOpen as exc:
        raise ApiError(
            409,
            "prompt_open",
            "The last payment prompt may still be on the phone. Try again when it has expired.",
            headers={"Retry-After": str(exc.retry_after)},
            retry_after=exc.retry_after,
        ) from None
    except PushLimited as exc:
        raise ApiError(
            429,
            "push_limited",
            "Too many payment prompts were sent recently. Try again later.",
            headers={"Retry-After": str(exc.retry_after)},
            limit=exc.limit,
            retry_after=exc.retry_after,
        ) from None
    if result.outcome == REFUSED:
        return _json(result.update.json_with(**provider_refused(str(result.reason))), 502)
    extra = {"push_outcome": UNKNOWN} if result.outcome == UNKNOWN else {}
    return _json(result.update.json_with(**extra), 202)


async def cancel(request: Request) -> Response:
    order_id = shaped_order_id(request.path_params["order_id"])
    await read_no_body(request)
    try:
        update = await services(request).prompts.cancel(order_id)
    except OrderNotFound:
        raise unknown_order(order_id) from None
    except OrderFinal as exc:
        raise _order_final(exc) from None
    return _json(update.json)


routes = [
    Route(ORDER, get_order, methods=["GET"]),
    Route(ORDER_PUSH, push_again, methods=["POST"]),
    Route(ORDER_CANCEL, cancel, methods=["POST"]),
    # Bare ASGI apps, usually reached through HeldRoutesFastPath (server/routes/held.py).
    wait_route,
    events_route,
]
