"""`python -m server simulate`: send a PayHero-shaped callback for an order to a running service.

Like a payment provider's own "trigger" tool: it reads the order from the service's database
(same DATABASE_URL) and POSTs to the service's callback URL (PUBLIC_BASE_URL, CALLBACK_TOKEN).
"""

from __future__ import annotations

import argparse
import asyncio
import json

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
    parser.set_defaults(handler=run)


async def simulate(settings: Settings, order_ref: str, result: str, amount: int | None) -> int:
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
    order = row._mapping
    body = callback_body(
        result=result,
        external_reference=order["order_number"],
        checkout_request_id=order["checkout_request_id"] or f"ws_CO_SANDBOX_{order['order_number']}",
        amount=amount if amount is not None else order["amount"],
        phone=order["phone"] or "254700000000",
    )
    async with httpx.AsyncClient(timeout=30) as http:
        try:
            response = await http.post(settings.callback_url, json=body)
        except httpx.HTTPError as exc:
            print(f"could not reach the service at {settings.public_base_url}: {exc}")
            return 1
    print(f"{response.status_code} {json.dumps(response.json())}")
    return 0 if response.is_success else 1


def run(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(simulate(settings, args.order, args.result, args.amount))
