"""The HTTP surface, one module per area."""

from __future__ import annotations

from starlette.routing import BaseRoute

from server.routes import calendar, checkout, health, ops, orders, pages, payhero, tickets


def all_routes() -> list[BaseRoute]:
    return [
        *health.routes,
        *ops.routes,
        *checkout.routes,
        *orders.routes,
        *calendar.routes,
        *payhero.routes,
        *tickets.routes,
        *pages.routes(),
    ]
