"""The HTTP surface, one module per area."""

from __future__ import annotations

from starlette.routing import BaseRoute

from server.routes import health, orders, pages


def all_routes() -> list[BaseRoute]:
    return [*health.routes, *orders.routes, *pages.routes()]
