"""Pauses of the whole process, which per-request metrics cannot see.

A garbage collection or a long synchronous step stops every waiter of the process at once,
yet the fan-out histogram only starts its clock after the pause (the change is read once
the loop runs again). Two histograms make them visible on `/metrics`:

- `gc_pause_seconds{generation}`: each collection's duration, timed by `gc.callbacks`.
- `event_loop_lag_seconds`: how late a timer due every `LOOP_LAG_INTERVAL` fires. A lag
  the GC does not explain is a long synchronous step; past `LOOP_LAG_WARNING` one line is
  logged with the share of it spent collecting garbage.

Beside them, gauges of the longest of each since start (a histogram only gives a bucket),
the longest collection's CPU time (on a loaded host wall time also counts the time the
process waited for a core), and the objects frozen at start-up (`freeze_start_up`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

log = logging.getLogger("server.pauses")

PREFIX = "payment_status_"
# 1 ms to 1 s: the target is "no pause over 20 ms", and the worst seen was ~450 ms.
PAUSE_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
# Four timers a second cost nothing measurable; a stall shorter than 250 ms is still seen,
# because the timer due during it fires late by the stall's remainder.
LOOP_LAG_INTERVAL = 0.25
LOOP_LAG_WARNING = 0.1
# A full collection walks every object not frozen; before settling (below) that was every
# held waiter (~45 tracked objects each), ~200 ms of CPU at 10,000 held, and (700, 10, 100)
# made them ten times rarer. With settling a full collection walks only what is new since
# the last one, so the interpreter may start one as often as the settling timer would
# (every 2 middle-generation collections, ~14,000 objects allocated and kept): that bounds
# the walk when the timer is late (a long loop iteration in a ramp). With 15,000 held the
# longest collection was 20.5 ms of CPU at (700, 10, 10), 15.1 at (700, 10, 2).
GC_THRESHOLDS = (700, 10, 2)
# Settling (`PauseMetrics.settle_long_lived`): a full collection is run as soon as the
# middle generation has been collected SETTLE_AFTER_MIDDLE times since the last one (about
# 14,000 objects allocated and kept), and the survivors of any full collection whose CPU
# time reached SETTLE_FREEZE_AFTER are frozen at once (`_on_gc`): the next walks only what
# came after. The check is a timer, as cheap as the loop-lag sampler's.
SETTLE_AFTER_MIDDLE = 2
SETTLE_FREEZE_AFTER = 0.001
SETTLE_CHECK_INTERVAL = 0.1
# What settling can leak is a frozen object that later dies in a reference cycle (see
# `settle_long_lived`). When the process is nearly idle (no more frozen than start-up left,
# plus a quarter), at most every SWEEP_INTERVAL, everything is unfrozen and collected once:
# a walk of about the start-up objects, while almost nobody waits through it.
SWEEP_INTERVAL = 600.0
SWEEP_WHEN_FROZEN_WITHIN = 1.25


class PauseMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.gc_pause = Histogram(
            PREFIX + "gc_pause_seconds",
            "Duration of each garbage collection, by generation.",
            ["generation"],
            buckets=PAUSE_BUCKETS,
            registry=registry,
        )
        self.loop_lag = Histogram(
            PREFIX + "event_loop_lag_seconds",
            "How late the event loop ran a timer due every 250 ms: a stall of the whole process.",
            buckets=PAUSE_BUCKETS,
            registry=registry,
        )
        self.longest_gc_gauge = Gauge(
            PREFIX + "gc_pause_longest_seconds",
            "The longest garbage collection since start (wall time).",
            registry=registry,
        )
        self.longest_gc_cpu_gauge = Gauge(
            PREFIX + "gc_pause_longest_cpu_seconds",
            "CPU time of the longest (by CPU) garbage collection since start.",
            registry=registry,
        )
        self.longest_lag_gauge = Gauge(
            PREFIX + "event_loop_lag_longest_seconds",
            "The longest event-loop stall since start.",
            registry=registry,
        )
        Gauge(
            PREFIX + "gc_frozen_objects",
            "Objects moved out of the collector's reach at start-up (gc.freeze).",
            registry=registry,
        ).set_function(gc.get_freeze_count)
        self.settle_freezes = Counter(
            PREFIX + "gc_settle_freezes",
            "Times the survivors of a settling collection were frozen (objects held long).",
            registry=registry,
        )
        self.sweeps = Counter(
            PREFIX + "gc_sweeps",
            "Times everything frozen was collected once, the process being nearly idle.",
            registry=registry,
        )
        self._gc_children = [self.gc_pause.labels(str(generation)) for generation in range(3)]
        self._gc_started = 0.0
        self._gc_started_cpu = 0.0
        # Read by the loop-lag sampler: was the last stall a collection?
        self.gc_seconds_total = 0.0
        self.longest_gc = 0.0
        self.longest_gc_cpu = 0.0
        self.longest_lag = 0.0
        # Set while settling runs: a full collection this long (CPU) freezes its survivors.
        self.freeze_after: float | None = None
        # What start-up froze: counted when first needed (`_start_up_frozen`), not at start.
        self._start_up: int | None = None

    # -- garbage collections ---------------------------------------------------------------

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
            self._gc_started_cpu = time.thread_time()
            return
        took = time.perf_counter() - self._gc_started
        cpu = time.thread_time() - self._gc_started_cpu
        self._gc_children[info["generation"]].observe(took)
        self.gc_seconds_total += took
        if took > self.longest_gc:
            self.longest_gc = took
            self.longest_gc_gauge.set(took)
        if cpu > self.longest_gc_cpu:
            self.longest_gc_cpu = cpu
            self.longest_gc_cpu_gauge.set(cpu)
        if self.freeze_after is not None and info["generation"] == 2 and cpu >= self.freeze_after:
            # Before the first of these, what is frozen is what start-up froze.
            self._start_up_frozen()
            # Its survivors are live (it just walked them): out of every later walk.
            gc.freeze()
            self.settle_freezes.inc()

    def start_gc_timing(self) -> None:
        gc.callbacks.append(self._on_gc)

    def stop_gc_timing(self) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)

    def _start_up_frozen(self) -> int:
        """What start-up froze: counted the first time settling needs it (its first freeze or
        sweep), when nothing else has been frozen yet. Counting walks every frozen object:
        2 ms for a service's own 86,000, but 20-60 ms where the app is started inside a larger
        process, as the test suite does hundreds of times a run, most of them for nothing."""
        if self._start_up is None:
            self._start_up = gc.get_freeze_count()
        return self._start_up

    # -- event-loop lag --------------------------------------------------------------------

    async def sample_loop_lag(
        self, interval: float = LOOP_LAG_INTERVAL, warn_after: float = LOOP_LAG_WARNING
    ) -> None:
        """Runs for the app's lifetime: one timer every `interval`, its lateness observed."""
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + interval
            gc_before = self.gc_seconds_total
            cpu_before = time.thread_time()
            await asyncio.sleep(interval)
            lag = max(0.0, loop.time() - due)
            self.loop_lag.observe(lag)
            if lag > self.longest_lag:
                self.longest_lag = lag
                self.longest_lag_gauge.set(lag)
            if lag >= warn_after:
                in_gc = self.gc_seconds_total - gc_before
                # CPU the loop's thread used over interval + lag: near the lag, our own code
                # (or the collector) ran; far below it, the process waited for a core.
                on_cpu = time.thread_time() - cpu_before
                log.warning(
                    "event loop stalled %.0f ms (%.0f ms of it in garbage collection, "
                    "%.0f ms on CPU in the last %.0f ms)",
                    lag * 1000,
                    in_gc * 1000,
                    on_cpu * 1000,
                    (interval + lag) * 1000,
                )

    # -- settling: long-lived objects out of the collector's walk ---------------------------

    async def settle_long_lived(
        self,
        interval: float = SETTLE_CHECK_INTERVAL,
        after_middle: int = SETTLE_AFTER_MIDDLE,
        freeze_after: float = SETTLE_FREEZE_AFTER,
        sweep_interval: float = SWEEP_INTERVAL,
    ) -> None:
        """Runs for the app's lifetime: keeps every full collection short (see the module).

        A collection's survivors are live, so freezing them right after it pins no garbage
        of that moment. What is pinned is a frozen object that later dies in a reference
        cycle: refcounting frees the rest (a frozen object whose last reference goes is
        freed). bench.frozen_garbage measures what finished waiters leave; the
        sweep, when the process is nearly idle, bounds the rest.
        """
        last_sweep = time.monotonic()
        self.freeze_after = freeze_after
        try:
            while True:
                await asyncio.sleep(interval)
                now = time.monotonic()
                if (
                    now - last_sweep >= sweep_interval
                    and gc.get_freeze_count() <= self._start_up_frozen() * SWEEP_WHEN_FROZEN_WITHIN
                ):
                    last_sweep = now
                    gc.unfreeze()
                    gc.collect()  # frozen again by `_on_gc` if it was long
                    gc.freeze()
                    self.sweeps.inc()
                elif gc.get_count()[2] >= after_middle:
                    gc.collect()
        finally:
            self.freeze_after = None


# -- start-up objects out of the collector's reach ------------------------------------------


@contextlib.asynccontextmanager
async def frozen_start_up(thresholds: tuple[int, int, int] = GC_THRESHOLDS) -> AsyncIterator[None]:
    """Freeze what start-up left alive (modules, routes, services), and set `thresholds`;
    unfreeze and put the thresholds back on the way out.

    A full collection walks every tracked object, and most of a fresh service.s are
    imports and app wiring that live as long as the process. `gc.freeze()` moves them to
    the permanent generation, which no collection scans. Young garbage is collected first so
    little is frozen, and the objects are given back on shutdown so an app started and stopped in a
    longer-lived process (tests) leaves nothing pinned.
    """
    started = time.perf_counter()
    # The young generations only: a full collection here cost 200-900 ms per app start in
    # the test process (a large heap, on a loaded host). Older garbage stays frozen until
    # shutdown, at worst; the collections that promoted it had found it live.
    gc.collect(1)
    gc.freeze()
    before = gc.get_threshold()
    gc.set_threshold(*thresholds)
    # Not counted here (`gc_frozen_objects` counts them when scraped): see `_start_up_frozen`.
    log.info(
        "start-up objects frozen out of garbage collection in %.0f ms; thresholds %s",
        (time.perf_counter() - started) * 1000,
        thresholds,
    )
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
