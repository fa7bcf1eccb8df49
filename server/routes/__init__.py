"""The HTTP surface, one module per area."""

from __future__ import annotations

import typing

from server.routes import (
    calendar_feed,
    checkout_api,
    desk_api,
    gate_counts,
    gate_offline,
    gate_session,
    health_checks,
    lost_tickets_api,
    ops_api,
    order_api,
    pages,
    payhero_webhook,
    shared_ticket_api,
    ticket_api,
)
from server.routes.held import HeldRoutesFastPath
from server.routes.payhero_webhook import CallbackFastPath
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
        *lost_tickets_api.routes,
        *shared_ticket_api.routes,
        *gate_session.routes,
        *desk_api.routes,
        *gate_counts.routes,
        *gate_offline.routes,
        *pages.routes(sandbox=settings.sandbox),
    ]


__all__ = ["CallbackFastPath", "HeldRoutesFastPath", "QrFastPath", "all_routes", "ticket_api"]
