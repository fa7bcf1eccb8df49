"""Prometheus metrics of one app, in a registry of its own (several apps share a test process).

The hot paths stay as they were: the hub, broker, reader and push limits keep plain integer
counters, and `ServiceCollector` reads them when Prometheus scrapes. Only what has no
counter of its own is recorded as it happens: HTTP responses (one cached child per route
and status), callback outcomes (rare), and the fan-out delay (one observation per change
delivered to this process's waiters, not per waiter).

With WEB_CONCURRENCY > 1 each worker has its own numbers and a scrape reaches one of them;
docs/OPERATIONS.md says how to read them.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from server.lifecycle import REVIEW_REASONS
from server.ops.build_info import build_info
from server.ops.outbox_backlog import outbox_backlog
from server.ops.pauses import PauseMetrics

if TYPE_CHECKING:
    from server.abuse.rate_windows import Windows
    from server.broker import Broker
    from server.orders.push_limits import PushLimits
    from server.payments.spool import CallbackSpool
    from server.status.hub import StatusHub
    from server.status.reader import OrderReader
    from server.store import Database
    from server.tickets.gate_limits import GateLimits
    from server.tickets.offline_check_ins import OfflineCheckIns

log = logging.getLogger("server.metrics")

# No `_created` series beside every counter and histogram: a timestamp per series that
# doubles what a scrape sends and that no alert reads (Prometheus knows a reset by the drop).
disable_created_metrics()  # type: ignore[no-untyped-call]

PREFIX = "payment_status_"
# What Prometheus has understood the longest; generate_latest writes this format.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# From "the local waiter was woken by our own publish" (milliseconds) to "the safety net found
# it" (seconds): the buckets must show both.
# A request's time to its response's start: milliseconds for most routes, the hold (up to
# WAIT_TIMEOUT_MAX, 28 s) for a held `/wait`.
REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
FAN_OUT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
TRANSPORTS = ("sse", "long_poll")
# A scrape must answer even when the database hangs.
PROBE_TIMEOUT = 2.0
# Labels an attacker controls are folded into fixed values, or a fuzzer grows the registry.
_METHODS = frozenset({"GET", "POST", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})
UNMATCHED_ROUTE = "<unmatched>"


@dataclass
class Sources:
    """The long-lived objects whose own counters are read at scrape time."""

    hub: StatusHub
    broker: Broker
    reader: OrderReader
    push_limits: PushLimits
    windows: Windows
    # None where nobody built a gate (tools that only read the store).
    gate_limits: GateLimits | None = None
    offline_check_ins: OfflineCheckIns | None = None
    # None where no callback is received (tools).
    spool: CallbackSpool | None = None


class Metrics:
    """The Prometheus registry of one process and every metric the service counts in it."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        for collector in (ProcessCollector, PlatformCollector, GCCollector):
            collector(registry=self.registry)
        self.http_requests = Counter(
            PREFIX + "http_requests",
            "HTTP responses started, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.http_duration = Histogram(
            PREFIX + "http_request_duration_seconds",
            "From a request's arrival to its response's start, by method and route template "
            "(a held /wait: its hold; an SSE stream: to its opening).",
            ["method", "route"],
            buckets=REQUEST_BUCKETS,
            registry=self.registry,
        )
        built = build_info()
        Info(
            PREFIX + "build",
            "The running release: package version and source commit.",
            registry=self.registry,
        ).info({"version": built.version, "commit": built.commit})
        self.callbacks = Counter(
            PREFIX + "callbacks",
            "PayHero callbacks by the result they carry and what applying them did.",
            ["result", "outcome"],
            registry=self.registry,
        )
        self.reviews = Counter(
            PREFIX + "reviews",
            "Callbacks that may carry money, held for a person to review, by reason.",
            ["reason"],
            registry=self.registry,
        )
        for reason in REVIEW_REASONS:
            self.reviews.labels(reason)  # at 0 from the start, so increase() sees the first
        self.pushes = Counter(
            PREFIX + "stk_pushes",
            "STK pushes sent, by PayHero's answer: accepted, refused, unknown (no usable answer).",
            ["outcome"],
            registry=self.registry,
        )
        self.background_errors = Counter(
            PREFIX + "background_errors",
            "Rows the expiry pass or the start-up callback replay could not handle (and went past).",
            ["task"],
            registry=self.registry,
        )
        self.client_disconnects = Counter(
            PREFIX + "client_disconnects",
            "Requests whose client went away before its body was all sent: the client's doing, no 5xx.",
            registry=self.registry,
        )
        self.fan_out_delay = Histogram(
            PREFIX + "fanout_delay_seconds",
            "From a change's updated_at to this process's waiters being handed it.",
            buckets=FAN_OUT_BUCKETS,
            registry=self.registry,
        )
        self.outbox_backlog = Gauge(
            PREFIX + "outbox_backlog",
            "E-mails in the outbox not yet sent; NaN when the database did not answer.",
            registry=self.registry,
        )
        self.outbox_oldest = Gauge(
            PREFIX + "outbox_oldest_seconds",
            "How long the oldest unsent e-mail has waited; 0 when none.",
            registry=self.registry,
        )
        self.broker_up = Gauge(
            PREFIX + "broker_up",
            "1 when the broker answers and the subscriber stream is up, else 0.",
            registry=self.registry,
        )
        self.pauses = PauseMetrics(self.registry)
        self.waiting = dict.fromkeys(TRANSPORTS, 0)
        self._http_children: dict[tuple[str, str, int], Any] = {}
        self._duration_children: dict[tuple[str, str], Any] = {}

    # -- recorded as it happens --------------------------------------------------------------

    def request_done(self, method: str, route: str | None, status: int, seconds: float | None = None) -> None:
        # Keyed by the label, not the raw method: under `--http h11` any token is a method,
        # and a child per one sent would grow without end (issue 15).
        key = (method if method in _METHODS else "other", route or UNMATCHED_ROUTE, status)
        child = self._http_children.get(key)
        if child is None:
            child = self._http_children[key] = self.http_requests.labels(key[0], key[1], str(status))
        child.inc()
        if seconds is not None:
            timed = self._duration_children.get(key[:2])
            if timed is None:
                timed = self._duration_children[key[:2]] = self.http_duration.labels(key[0], key[1])
            timed.observe(seconds)

    @property
    def http_series(self) -> int:
        """How many (method, route, status) request counters this process keeps."""
        return len(self._http_children)

    def callback_outcome(self, result: str, outcome: str) -> None:
        self.callbacks.labels(result, outcome).inc()
        if outcome.startswith("review:"):
            self.reviews.labels(outcome.removeprefix("review:")).inc()

    def review(self, reason: str) -> None:
        """An order held for review outside a callback (the expiry pass's status check)."""
        self.reviews.labels(reason).inc()

    def push_outcome(self, outcome: str) -> None:
        self.pushes.labels(outcome).inc()

    def background_error(self, task: str) -> None:
        self.background_errors.labels(task).inc()

    def fan_out(self, notified: int, delay_ms: int) -> None:
        self.fan_out_delay.observe(delay_ms / 1000)

    def holding(self, transport: str) -> Holding:
        """Count a held request (an SSE stream, a long poll) for as long as it is held."""
        return Holding(self.waiting, transport)

    # -- read at scrape time ----------------------------------------------------------------

    def watch(self, sources: Sources) -> None:
        self.registry.register(ServiceCollector(self, sources))

    async def refresh(self, database: Database, broker: Broker) -> None:
        """The values only an await can read: the outbox backlog and the broker's health."""
        backlog: float
        oldest: float
        try:
            async with asyncio.timeout(PROBE_TIMEOUT):
                backlog, oldest = await outbox_backlog(database)
        except Exception as exc:
            log.warning("metrics: outbox backlog not readable: %s", exc)
            backlog, oldest = math.nan, math.nan
        self.outbox_backlog.set(backlog)
        self.outbox_oldest.set(oldest)
        try:
            async with asyncio.timeout(PROBE_TIMEOUT):
                up = await broker.ping()
        except Exception:
            up = False
        self.broker_up.set(1 if up else 0)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class Holding:
    """`with metrics.holding(transport):` as a two-slot object rather than a generator.

    It lives as long as the request it counts; @contextmanager's generator and its frame
    cost ~340 bytes per held request (bench.memory_profile), this ~50.
    """

    __slots__ = ("transport", "waiting")

    def __init__(self, waiting: dict[str, int], transport: str) -> None:
        self.waiting = waiting
        self.transport = transport

    def __enter__(self) -> None:
        self.waiting[self.transport] += 1

    def __exit__(self, *exc: object) -> None:
        self.waiting[self.transport] -= 1


class ServiceCollector:
    """Reads the counters the hub, broker, reader and limits keep anyway."""

    def __init__(self, metrics: Metrics, sources: Sources) -> None:
        self.metrics = metrics
        self.sources = sources

    def describe(self) -> Iterable[Metric]:
        return []  # register without collecting: the sources may not be started yet

    def collect(self) -> Iterable[Metric]:
        hub, broker, reader = self.sources.hub, self.sources.broker, self.sources.reader
        yield self._labelled(
            GaugeMetricFamily,
            "waiters",
            "Held requests waiting for a change.",
            "transport",
            self.metrics.waiting,
        )
        yield self._labelled(
            CounterMetricFamily,
            "push_limited",
            "Checkouts refused by a push limit.",
            "limit",
            self.sources.push_limits.refused,
        )
        if self.sources.gate_limits is not None:
            yield self._labelled(
                CounterMetricFamily,
                "gate_limited",
                "Ticket verifies and check-ins refused by a gate limit (GATE_LIMIT_PER_*).",
                "limit",
                self.sources.gate_limits.refused,
            )
        if self.sources.offline_check_ins is not None:
            yield CounterMetricFamily(
                f"{PREFIX}gate_admitted_twice",
                "Tickets let in twice, found when an offline gate's queue was sent (this process).",
                value=self.sources.offline_check_ins.admitted_twice,
            )
        if self.sources.spool is not None:
            yield GaugeMetricFamily(
                f"{PREFIX}callbacks_kept_on_disk",
                "PayHero callbacks the store refused, kept on this host's disk until it answers.",
                value=len(self.sources.spool.waiting()),
            )
        yield self._labelled(
            CounterMetricFamily,
            "waiters_refused",
            "New waiters refused by a cap: total (MAX_WAITERS), order, client (per address).",
            "cap",
            hub.refused,
        )
        gauges = [
            (
                "hub_watches",
                "Watches registered with the status hub (waiters and internal).",
                hub.watch_count,
            ),
            ("hub_channels", "Order channels this process subscribes to.", hub.channel_count),
        ]
        counters = [
            ("notifications_published", "Status changes published on the broker.", hub.published),
            (
                "notifications_publish_failures",
                "Status changes the broker did not take (the safety net delivers them).",
                hub.publish_failures,
            ),
            ("notifications_delivered", "Status updates handed to local waiters.", hub.delivered),
            ("broker_reconnects", "Times the broker's subscriber connection was lost.", broker.reconnects),
            ("store_reads", "Order reads from the database (queries).", reader.reads),
            (
                "store_single_reads",
                "Of those, reads of one order by id: what one status request costs.",
                reader.single_reads,
            ),
            (
                "push_limiter_fallbacks",
                "Times Redis failed and push limits were counted in this process instead.",
                getattr(self.sources.windows, "fallbacks", 0),
            ),
        ]
        for name, documentation, number in gauges:
            yield GaugeMetricFamily(PREFIX + name, documentation, number)
        for name, documentation, number in counters:
            yield CounterMetricFamily(PREFIX + name, documentation, number)

    @staticmethod
    def _labelled(
        kind: type[GaugeMetricFamily] | type[CounterMetricFamily],
        name: str,
        documentation: str,
        label: str,
        values: dict[str, int],
    ) -> Metric:
        family = kind(PREFIX + name, documentation, labels=[label])
        for key, number in values.items():
            family.add_metric([key], number)
        return family
