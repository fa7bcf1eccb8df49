"""What operators see and hold: metrics, request logs, middleware, the API description."""

from __future__ import annotations

from server.ops.forwarded import UntrustedForwarding
from server.ops.listeners import worker_per_listener
from server.ops.metrics import CONTENT_TYPE, Metrics, Sources
from server.ops.middleware import build_middleware
from server.ops.openapi import openapi_json
from server.ops.pauses import frozen_start_up
from server.ops.preflight import (
    StartRefused,
    preflight,
    preflight_or_exit,
    settings_or_exit,
    wait_until_reachable,
)

__all__ = [
    "CONTENT_TYPE",
    "Metrics",
    "Sources",
    "StartRefused",
    "UntrustedForwarding",
    "build_middleware",
    "frozen_start_up",
    "openapi_json",
    "preflight",
    "preflight_or_exit",
    "settings_or_exit",
    "wait_until_reachable",
    "worker_per_listener",
]
