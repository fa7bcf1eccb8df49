"""Reading the service's `/metrics` (Prometheus text format) into numbers."""

from __future__ import annotations

import re

Metrics = dict[str, float]

# The service's names (server/ops/metrics.py): what the scenarios read.
PREFIX = "payment_status_"
WATCHES = PREFIX + "hub_watches"
READS = PREFIX + "store_reads_total"
SINGLE_READS = PREFIX + "store_single_reads_total"
PUBLISHED = PREFIX + "notifications_published_total"
DELIVERED = PREFIX + "notifications_delivered_total"
REQUESTS = PREFIX + "http_requests_total"


def parse_metrics(text: str) -> Metrics:
    """`name{labels} value` lines into a dict keyed by `name{labels}` exactly as written."""
    found: Metrics = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        found[key] = float(value)
    return found


def requests_total(metrics: Metrics, route: str | None = None, method: str | None = None) -> float:
    """Sum of the service's HTTP request counts, optionally for one route template and method."""
    total = 0.0
    for key, value in metrics.items():
        if not key.startswith(REQUESTS + "{"):
            continue
        if route is not None and f'route="{route}"' not in key:
            continue
        if method is not None and f'method="{method}"' not in key:
            continue
        total += value
    return total


def delta(after: Metrics, before: Metrics) -> Metrics:
    return {key: value - before.get(key, 0.0) for key, value in after.items()}


# Whole-process pauses (server/ops/pauses.py).
GC_PAUSE = PREFIX + "gc_pause_seconds"
GC_LONGEST = PREFIX + "gc_pause_longest_seconds"
GC_LONGEST_CPU = PREFIX + "gc_pause_longest_cpu_seconds"
LAG_LONGEST = PREFIX + "event_loop_lag_longest_seconds"
FROZEN = PREFIX + "gc_frozen_objects"


def pauses(metrics: Metrics) -> dict[str, float]:
    """The longest GC pause (wall and CPU), full collections, the longest loop lag, in ms.

    Longest-since-start gauges: a histogram bucket would only bound them. Services older
    than the gauges report NaN for them and the counts still.
    """
    nan = float("nan")

    def ms(name: str) -> float:
        return metrics.get(name, nan) * 1000

    return {
        "longest_gc_ms": ms(GC_LONGEST),
        "longest_gc_cpu_ms": ms(GC_LONGEST_CPU),
        "gen2_collections": metrics.get(GC_PAUSE + '_count{generation="2"}', nan),
        "gen2_seconds": metrics.get(GC_PAUSE + '_sum{generation="2"}', nan),
        "longest_loop_lag_ms": ms(LAG_LONGEST),
        "frozen_objects": metrics.get(FROZEN, nan),
    }


def bucket_bound(metrics: Metrics, name: str, q: float, *, labels: str = "") -> float:
    """The upper bound of the histogram bucket holding the q-th percentile (0..100) of `name`'s
    observations whose label text contains `labels`: what a Prometheus histogram can say of
    a percentile. NaN without observations; inf past the last bucket."""
    buckets: dict[float, float] = {}
    for key, value in metrics.items():
        if key.startswith(name + "_bucket{") and labels in key:
            bound = key.rsplit('le="', 1)[1].split('"', 1)[0]
            le = float("inf") if bound == "+Inf" else float(bound)
            buckets[le] = buckets.get(le, 0.0) + value
    total = buckets.get(float("inf"), 0.0)
    if not total:
        return float("nan")
    for le in sorted(buckets):
        if buckets[le] >= q / 100 * total:
            return le
    return float("inf")


# The line `PauseMetrics.sample_loop_lag` logs past LOOP_LAG_WARNING (server/ops/pauses.py).
_STALL = re.compile(
    r"event loop stalled (\d+) ms \((\d+) ms of it in garbage collection, "
    r"(\d+) ms on CPU in the last (\d+) ms\)"
)


def service_stalls(lines: list[str]) -> list[dict[str, float]]:
    """The service's logged loop stalls, longest first: each its lag, the part of it in the
    garbage collector, and the CPU the loop's thread used over the lag and the interval
    before it (near the window: the service was working; far below it: waiting for a core)."""
    found = []
    for line in lines:
        match = _STALL.search(line)
        if match:
            lag, in_gc, on_cpu, window = (float(group) for group in match.groups())
            found.append({"lag_ms": lag, "gc_ms": in_gc, "cpu_ms": on_cpu, "window_ms": window})
    return sorted(found, key=lambda stall: -stall["lag_ms"])
