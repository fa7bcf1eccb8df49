"""The Starlette application: settings in, services built in the lifespan, routes out."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TypedDict

from starlette.applications import Starlette
from starlette.middleware import Middleware

from server.abuse.rate_windows import MemoryWindows, Windows
from server.broker import RedisHealth, create_broker
from server.catalogue import Catalogue
from server.fulfilment import build_fulfilment
from server.http_errors import EXCEPTION_HANDLERS
from server.logs import configure_logging, flush_logs, mask_url
from server.ops.forwarded import UntrustedForwarding
from server.ops.metrics import Metrics, Sources
from server.ops.middleware import build_middleware
from server.ops.pauses import frozen_start_up
from server.ops.preflight import settings_or_exit, wait_until_reachable
from server.orders.checkout import Checkout
from server.orders.lost_tickets import LostTickets
from server.orders.prompts import Prompts
from server.orders.push_limits import PushLimits
from server.orders.unpaid_holds import UnpaidCaps
from server.payhero.gateway import open_payhero
from server.payments.callbacks import CallbackProcessor
from server.payments.expiry import ExpiryWorker
from server.payments.pushes import PushSender
from server.payments.spool import SPOOL_DIR, CallbackSpool
from server.private_files import private_dir
from server.routes import all_routes, ticket_api
from server.routes.held import HeldRoutesFastPath
from server.routes.payhero_webhook import CallbackFastPath
from server.routes.qr_fast import QrFastPath
from server.services import Services
from server.settings import Settings
from server.shutdown import drain_on_shutdown_signal, stop_with_supervisor
from server.status.admitted import AdmittedCounts, channel_namespace
from server.status.hub import StatusHub
from server.status.reader import OrderReader
from server.store.database import migrate, open_database
from server.store.postgres_url import postgres_target
from server.tickets.admission_list import AdmissionLists
from server.tickets.gate_limits import GateLimits
from server.tickets.offline_check_ins import OfflineCheckIns
from server.transitions.changes import StatusChanges
from server.transitions.pipeline import payment_pipeline
from server.transitions.ticket_codes import backfill_short_codes

log = logging.getLogger("server.app")


class State(TypedDict):
    services: Services


@asynccontextmanager
async def open_services(
    settings: Settings, metrics: Metrics | None = None, untrusted: UntrustedForwarding | None = None
) -> AsyncIterator[Services]:
    """Connect the store, the broker and PayHero; close them in reverse order."""
    metrics = metrics or Metrics()
    catalogue = Catalogue.load(settings.catalogue_file)
    private_dir(settings.data_dir)
    settings = settings.resolve_secrets()  # the kept secrets, if the environment set none
    # Platforms start add-ons in any order: wait for PostgreSQL, bounded (STARTUP_WAIT). Redis
    # is waited for by the launcher (server/ops/preflight.py); the broker reconnects by itself.
    await wait_until_reachable(settings)
    database = open_database(
        settings.database_url,
        busy_timeout=settings.sqlite_busy_timeout,
        pool_size=settings.database_pool_size,
        statement_timeout=settings.database_statement_timeout,
        acquire_timeout=settings.database_acquire_timeout,
    )
    await database.connect()
    async with AsyncExitStack() as stack:
        stack.push_async_callback(database.disconnect)
        await migrate(database)
        await catalogue.sync_inventory(database)
        # One verdict on whether Redis answers, for the broker and the push limits alike.
        redis_health = RedisHealth(timeout=settings.redis_timeout)
        broker = create_broker(
            settings.redis_url,
            redis_health,
            cluster=settings.redis_cluster,
            postgres=(
                postgres_target(settings.database_url).connect_kwargs()
                if settings.broker_kind == "postgres"
                else None
            ),
        )
        reader = OrderReader(database, catalogue=catalogue)
        hub = StatusHub(
            broker,
            reader,
            safety_net_interval=settings.safety_net_interval,
            max_watches=settings.max_waiters,
            max_watches_per_order=settings.max_waiters_per_order,
            max_watches_per_client=settings.max_waiters_per_client,
            max_watches_per_client_order=settings.max_waiters_per_client_order,
            on_fan_out=metrics.fan_out,
        )
        await hub.start()
        stack.push_async_callback(hub.stop)
        payhero, sandbox = await stack.enter_async_context(open_payhero(settings))
        fulfilment = build_fulfilment(settings, database, catalogue)
        await backfill_short_codes(database, fulfilment.gate.signer)
        changes = StatusChanges(
            database,
            reader,
            payment_pipeline(
                hub=hub, catalogue=catalogue, signer=fulfilment.gate.signer, outbox=fulfilment.outbox
            ),
        )
        stack.callback(fulfilment.outbox.close)
        # Push limits hold across processes only through Redis; alone, memory is enough.
        windows: Windows
        if settings.redis_url:
            # Imported only here: a process without Redis never loads redis-py (~55 ms of CPU a start).
            from server.abuse.redis_windows import RedisWindows

            windows = RedisWindows(settings.redis_url, health=redis_health, cluster=settings.redis_cluster)
        else:
            windows = MemoryWindows()
        stack.push_async_callback(windows.aclose)
        await windows.start()
        log.info(
            "store=%s (%s) broker=%s%s payhero=%s",
            settings.store_kind,
            mask_url(settings.database_url),
            broker.kind,
            f" ({mask_url(settings.redis_url)})"
            if settings.redis_url
            else " (LISTEN/NOTIFY on the store)"
            if broker.kind == "postgres"
            else " (in-process)",
            "sandbox" if sandbox else settings.payhero_base_url,
        )
        if sandbox:
            log.warning(
                "PAYHERO_MODE=sandbox: no real payments; every STK push and callback is simulated "
                "(callback shape %s). Set PAYHERO_MODE=live with PayHero's credentials to take money",
                settings.payhero_callback_shape,
            )
        if not settings.gate_tokens:
            log.warning(
                "GATE_TOKEN is not set: ticket check-in is refused (503 check_in_disabled) "
                "until the gate staff's tokens are configured; verify stays open"
            )
        if not settings.desk_tokens:
            log.warning(
                "DESK_TOKEN is not set: the organiser's desk (/desk, /api/desk/...) is refused "
                "(503 desk_disabled) until organisers' name:token pairs are configured"
            )
        push_limits = PushLimits(
            windows,
            per_phone=settings.push_limit_per_phone,
            per_ip=settings.push_limit_per_ip,
            window=settings.push_limit_window,
        )
        gate_limits = GateLimits(
            windows,
            per_ip=settings.gate_limit_per_ip,
            per_token=settings.gate_limit_per_token,
            window=settings.gate_limit_window,
        )
        offline_check_ins = OfflineCheckIns(fulfilment.gate, database)
        # Callbacks the store refuses before storing them wait here for it (spool.py).
        spool = CallbackSpool(settings.data_dir / SPOOL_DIR)
        spool.on_error = metrics.background_error
        metrics.watch(
            Sources(
                hub=hub,
                broker=broker,
                reader=reader,
                push_limits=push_limits,
                windows=windows,
                gate_limits=gate_limits,
                offline_check_ins=offline_check_ins,
                spool=spool,
            )
        )
        pushes = PushSender(
            database,
            changes,
            payhero,
            settings.callback_url,
            settings.prompt_window,
            on_outcome=metrics.push_outcome,
        )
        # Closed first (the stack unwinds backwards): a push in flight finishes, and is
        # recorded, before PayHero's client and the database go.
        stack.push_async_callback(pushes.in_flight.wait, settings.payhero_timeout + 5)
        yield Services(
            settings=settings,
            database=database,
            broker=broker,
            reader=reader,
            hub=hub,
            changes=changes,
            catalogue=catalogue,
            payhero=payhero,
            checkout=Checkout(
                database,
                catalogue,
                changes,
                pushes,
                UnpaidCaps(
                    per_phone=settings.max_unpaid_seats_per_phone,
                    per_client=settings.max_unpaid_seats_per_client,
                    per_email=settings.max_unpaid_seats_per_email,
                ),
            ),
            pushes=pushes,
            prompts=Prompts(database, changes, pushes, push_limits),
            callbacks=CallbackProcessor(
                database,
                changes,
                payhero,
                verify_success=settings.payhero_verify_callbacks,
                crash_point=settings.crash_point,
                on_outcome=metrics.callback_outcome,
                on_error=metrics.background_error,
                spool=spool,
            ),
            gate=fulfilment.gate,
            outbox=fulfilment.outbox,
            gate_limits=gate_limits,
            lost_tickets=LostTickets(database, catalogue, windows, on_queued=fulfilment.outbox.notify),
            admitted=AdmittedCounts(hub, database, catalogue, channel_namespace(settings.ticket_signing_key)),
            admission_lists=AdmissionLists(database, catalogue),
            offline_check_ins=offline_check_ins,
            push_limits=push_limits,
            metrics=metrics,
            sandbox=sandbox,
            untrusted_forwarding=untrusted or UntrustedForwarding(),
        )


async def settle_left_behind(services: Services, older_than: float) -> None:
    """Before each expiry pass: callbacks stored more than `older_than` seconds ago and never
    applied, those the spool kept while the store refused them, then pushes a dead process
    left `sending`. Callbacks first: an order they pay is not one the pass should expire."""
    await services.callbacks.replay_unprocessed(older_than)
    await services.callbacks.replay_spooled()
    await services.pushes.adopt_orphans(older_than)


async def replay_at_start(services: Services) -> None:
    """Callbacks an earlier process stored and never applied, then those it kept on disk."""
    await services.callbacks.replay_unprocessed()
    await services.callbacks.replay_spooled()


@asynccontextmanager
async def background_work(services: Services) -> AsyncIterator[None]:
    """Tasks that run beside the requests: replaying stored callbacks, expiring payments,
    delivering the e-mail outbox, and the pauses' own (ops/pauses.py)."""
    settings = services.settings
    expiry = ExpiryWorker(
        services.database,
        services.changes,
        services.payhero,
        expiry_seconds=settings.payment_expiry,
        interval=settings.expiry_check_interval,
        on_error=services.metrics.background_error,
        on_review=services.metrics.review,
        # Past PayHero's timeout and the shutdown's wait, no process is still sending a push
        # or applying a callback it stored (a success's check may ask PayHero).
        before_pass=functools.partial(settle_left_behind, services, settings.payhero_timeout + 10),
    )
    pauses = services.metrics.pauses
    pauses.start_gc_timing()
    tasks = [
        asyncio.create_task(replay_at_start(services), name="callback-replay"),
        asyncio.create_task(expiry.run(), name="payment-expiry"),
        asyncio.create_task(services.outbox.run(), name="outbox-delivery"),
        asyncio.create_task(pauses.sample_loop_lag(), name="loop-lag"),
        asyncio.create_task(pauses.settle_long_lived(), name="gc-settle"),
    ]
    try:
        yield
    finally:
        pauses.stop_gc_timing()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def create_app(settings: Settings | None = None) -> Starlette:
    # Secrets made now rather than in the lifespan, so that the logs redact them from the start.
    # From the environment: every bad variable on its own line and exit 2, no traceback.
    settings = (settings or settings_or_exit()).resolve_secrets()
    # One registry per app: several apps in one process (tests) must not share counters.
    metrics = Metrics()
    untrusted = UntrustedForwarding()

    def set_up_logging() -> None:
        configure_logging(settings.log_level, settings.log_format, secrets=settings.secret_values())

    set_up_logging()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[State]:
        # Again: a uvicorn.Config built after the app (tests, embedding) replaced the handlers.
        set_up_logging()
        try:
            async with (
                open_services(settings, metrics, untrusted) as services,
                frozen_start_up(),
                background_work(services),
            ):
                app.state.services = services  # for tests and tools holding the app
                # On SIGTERM, before uvicorn waits for open requests to finish, end every wait:
                # held long polls answer with the current status and streams close cleanly.
                with drain_on_shutdown_signal(services.hub.drain), stop_with_supervisor():
                    yield {"services": services}
        finally:
            # The shutdown's own lines, kept for a loop turn that may not come.
            flush_logs()

    return Starlette(
        routes=all_routes(settings),
        # Innermost: held /wait and /events (server/routes/held.py), PayHero's callbacks
        # (server/routes/payhero_webhook.py) and QR images already drawn
        # (server/routes/qr_fast.py) go past the Router.
        middleware=[
            *build_middleware(settings, metrics, untrusted),
            Middleware(HeldRoutesFastPath),
            Middleware(CallbackFastPath),
            Middleware(QrFastPath, routes=ticket_api.qr_routes),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
