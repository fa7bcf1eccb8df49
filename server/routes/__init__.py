"""The HTTP surface, one module per area."""

from __future__ import annotations

from starlette.routing import BaseRoute

from server.routes import calendar, checkout, gate_session, health, ops, orders, pages, payhero, tickets
from server.settings import Settings


def all_routes(settings: Settings) -> list[BaseRoute]:
    return [
        *health.routes,
        *ops.routes,
        *checkout.routes,
        *orders.routes,
        *calendar.routes,
        *payhero.routes,
        *tickets.routes,
        *gate_session.routes,
        *pages.routes(sandbox=settings.sandbox),
    ]
