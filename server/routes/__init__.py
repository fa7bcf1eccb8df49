"""The HTTP surface, one module per area."""

from __future__ import annotations

import typing

from server.routes import (
    calendar_feed,
    checkout_api,
    gate_session,
    health_checks,
    ops_api,
    order_api,
    pages,
    payhero_webhook,
    ticket_api,
)
from server.routes.held import HeldRoutesFastPath
from server.routes.qr_fast import QrFastPath

if typing.TYPE_CHECKING:
    from starlette.routing import BaseRoute

    from server.settings import Settings


def all_routes(settings: Settings) -> list[BaseRoute]:
    """Every route the app serves, in the order the Router tries them."""
    return [
        *health_checks.routes,
        *ops_api.routes,
        *checkout_api.routes,
        *order_api.routes,
        *calendar_feed.routes,
        *payhero_webhook.routes,
        *ticket_api.routes,
        *gate_session.routes,
        *pages.routes(sandbox=settings.sandbox),
    ]


__all__ = ["HeldRoutesFastPath", "QrFastPath", "all_routes", "ticket_api"]
