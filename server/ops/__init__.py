"""What operators see and hold: metrics, request logs, middleware, the API description."""

from __future__ import annotations

import importlib
import typing

if typing.TYPE_CHECKING:
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

# Each member's module, imported when the member is first asked for (PEP 562). Importing
# any module of this package runs this file first: imported here, every member came along,
# and a process that needs only the preflight (the launcher's supervisor, `python -m server
# migrate`) loaded the metrics, the middleware and with them most of the service.
_MODULES = {
    "CONTENT_TYPE": "metrics",
    "Metrics": "metrics",
    "Sources": "metrics",
    "StartRefused": "preflight",
    "UntrustedForwarding": "forwarded",
    "build_middleware": "middleware",
    "frozen_start_up": "pauses",
    "openapi_json": "openapi",
    "preflight": "preflight",
    "preflight_or_exit": "preflight",
    "settings_or_exit": "preflight",
    "wait_until_reachable": "preflight",
    "worker_per_listener": "listeners",
}


def __getattr__(name: str) -> object:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


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
