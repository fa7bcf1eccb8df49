"""Reading the service's `/metrics` (Prometheus text format) into numbers."""

from __future__ import annotations

Metrics = dict[str, float]


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
    """Sum of `http_requests_total`, optionally for one route template and method."""
    total = 0.0
    for key, value in metrics.items():
        if not key.startswith("http_requests_total{"):
            continue
        if route is not None and f'route="{route}"' not in key:
            continue
        if method is not None and f'method="{method}"' not in key:
            continue
        total += value
    return total


def delta(after: Metrics, before: Metrics) -> Metrics:
    return {key: value - before.get(key, 0.0) for key, value in after.items()}
