"""`python -m server simulate`: send a PayHero-shaped callback for an order to a running service.

Like a payment provider's own "trigger" tool: it reads the order from the service's database
(same DATABASE_URL) and POSTs to the service's callback route with its CALLBACK_TOKEN, on
this host's PORT (the service is local; PUBLIC_BASE_URL may be a tunnel or the public
name), or at `--url`. `--shape flat` sends PayHero API 2.0's flat callback instead of v2's.

Sandbox only: in live mode a made-up success would complete a real order with a made-up
receipt (issue 24), so it refuses.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

import httpx

from server.payhero.fake import RESULTS, callback_body
from server.settings import Settings
from server.store.database import open_database
from server.store.tables import customers, orders


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("simulate", help="send a PayHero callback for an order")
    parser.add_argument("order", help="order id or order number (ORD-…)")
    parser.add_argument("--result", choices=sorted(RESULTS), default="success")
    parser.add_argument("--amount", type=int, help="override the amount (to test the mismatch check)")
    parser.add_argument("--shape", choices=["v2", "flat"], default="v2", help="the callback's shape")
    parser.add_argument("--url", help="the service's base URL (default: http://127.0.0.1:$PORT)")
    parser.set_defaults(handler=run)


async def simulate(
    settings: Settings,
    order_ref: str,
    result: str,
    amount: int | None,
    *,
    shape: str = "v2",
    url: str | None = None,
) -> int:
    if not settings.sandbox:
        print(
            "simulate refuses in live mode (PAYHERO_MODE=live): a made-up callback would move a real order",
            file=sys.stderr,
        )
        return 2
    database = open_database(settings.database_url)
    await database.connect()
    try:
        query = (
            orders.outerjoin(customers, customers.c.id == orders.c.customer_id)
            .select()
            .with_only_columns(
                orders.c.id,
                orders.c.order_number,
                orders.c.amount,
                orders.c.checkout_request_id,
                orders.c.payhero_reference,
                orders.c.phone.label("order_phone"),
                customers.c.phone,
            )
            .where((orders.c.id == order_ref) | (orders.c.order_number == order_ref.upper()))
        )
        row = await database.fetch_one(query)
    finally:
        await database.disconnect()
    if row is None:
        print(f"no order {order_ref!r} in {settings.store_kind} store")
        return 1
    order = row
    number = order["order_number"]
    body = callback_body(
        result=result,
        external_reference=number,
        checkout_request_id=order["checkout_request_id"] or f"ws_CO_SANDBOX_{number}",
        amount=amount if amount is not None else order["amount"],
        phone=order["order_phone"] or order["phone"] or "254700000000",
        shape=shape,
        reference=order["payhero_reference"] or f"SANDBOX-{number}",
    )
    base = (url or f"http://127.0.0.1:{settings.port}").rstrip("/")
    async with httpx.AsyncClient(timeout=30) as http:
        try:
            response = await http.post(f"{base}/api/payhero/callback/{settings.callback_token}", json=body)
        except httpx.HTTPError as exc:
            print(f"could not reach the service at {base}: {exc}")
            return 1
    print(f"{response.status_code} {json.dumps(response.json())}")
    return 0 if response.is_success else 1


def run(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(
        simulate(settings, args.order, args.result, args.amount, shape=args.shape, url=args.url)
    )
