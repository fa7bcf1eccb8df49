"""The Starlette application: settings in, services built in the lifespan, routes out."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypedDict

from starlette.applications import Starlette
from starlette.middleware import Middleware

from server.broker import create_broker
from server.errors import EXCEPTION_HANDLERS
from server.logs import configure_logging, mask_url
from server.metrics import CountRequests, RequestCounts
from server.routes import all_routes
from server.services import Services
from server.settings import Settings
from server.status.changes import StatusChanges
from server.status.hub import StatusHub
from server.store.database import migrate, open_database
from server.store.orders import OrderReader

log = logging.getLogger("server.app")


class State(TypedDict):
    services: Services
    requests: RequestCounts


@asynccontextmanager
async def open_services(settings: Settings) -> AsyncIterator[Services]:
    """Connect the store and the broker, and close them in reverse order."""
    database = open_database(settings.database_url)
    await database.connect()
    try:
        await migrate(database)
        broker = create_broker(settings.redis_url)
        reader = OrderReader(database)
        hub = StatusHub(broker, reader, safety_net_interval=settings.safety_net_interval)
        await hub.start()
        try:
            log.info(
                "store=%s (%s) broker=%s%s",
                settings.store_kind,
                mask_url(settings.database_url),
                broker.kind,
                f" ({mask_url(settings.redis_url)})" if settings.redis_url else " (in-process)",
            )
            yield Services(
                settings=settings,
                database=database,
                broker=broker,
                reader=reader,
                hub=hub,
                changes=StatusChanges(database, reader, hub),
            )
        finally:
            await hub.stop()
    finally:
        await database.disconnect()


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    configure_logging(settings.log_level, settings.log_format)
    routes = all_routes()
    requests = RequestCounts(routes)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[State]:
        async with open_services(settings) as services:
            app.state.services = services  # for tests and tools holding the app
            yield {"services": services, "requests": requests}

    return Starlette(
        routes=routes,
        middleware=[Middleware(CountRequests, counts=requests)],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
