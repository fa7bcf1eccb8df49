"""Helpers of the hardening tests: checkout bodies, callbacks, and snapshots of stored data."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

from server.settings import Settings
from server.store import Database
from server.store.tables import customers, order_changes, orders, ticket_inventory, tickets
from tests.local_http import local_client
from tests.payhero_fixtures import ORDER
from tests.server_harness import RunningServer, run_server

# Every table a rejected request must leave as it was. `payhero_callbacks` is not one of
# them: a callback body is stored as received, even a malformed one (DESIGN rule 6).
GUARDED_TABLES = (orders, order_changes, tickets, customers, ticket_inventory)


def checkout_body(**overrides: Any) -> dict[str, Any]:
    return {**ORDER, **overrides}


def callback_body(order_number: str, *, result_code: Any = 0, **response: Any) -> bytes:
    """A PayHero-shaped callback for a sandbox order (API.md: ws_CO_SANDBOX_{number})."""
    fields: dict[str, Any] = {
        "Amount": 300,
        "CheckoutRequestID": f"ws_CO_SANDBOX_{order_number}",
        "ExternalReference": order_number,
        "MerchantRequestID": "3202-70921557-1",
        "MpesaReceiptNumber": "SAE3YULR0Y",
        "ResultCode": result_code,
        "ResultDesc": "The service request is processed successfully.",
        "Status": "Success",
    }
    fields.update(response)
    return json.dumps({"forward_url": "", "response": fields, "status": True}).encode()


async def snapshot(database: Database) -> dict[str, list[str]]:
    """The guarded tables' rows, order-independent, for a before/after comparison."""
    found: dict[str, list[str]] = {}
    for table in GUARDED_TABLES:
        rows = await database.fetch_all(table.select())
        found[table.name] = sorted(repr(tuple(row)) for row in rows)
    return found


@contextlib.asynccontextmanager
async def served(settings: Settings) -> AsyncIterator[tuple[RunningServer, httpx.AsyncClient]]:
    """A real server for `settings` and an HTTP client pointed at it."""
    async with run_server(settings) as live, local_client(live.base_url, timeout=20) as http:
        yield live, http
