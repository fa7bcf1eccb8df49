"""`python -m server check-config`: the operator's first command on a new deploy.

Prints every variable's effective value (secrets masked: `set` or `unset`, URLs without
their password), every warning the service would log at start, then waits for the store
and Redis as a web start does and checks the schema and PostgreSQL's connections. Exits 0
when the service would start, 2 when it would not (a bad variable is refused before this
command runs, by server/__main__.py, one line each).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping

from server.logs import mask_url
from server.ops.preflight import StartRefused, preflight
from server.settings import DECLARED, Settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    check = subparsers.add_parser(
        "check-config", help="print the effective configuration and warnings; non-zero on an error"
    )
    check.set_defaults(handler=run_check_config)


def shown_value(settings: Settings, field: str, secret: bool) -> str:
    value = getattr(settings, field)
    if isinstance(value, str) and "://" in value:
        return mask_url(value) if not secret or "@" in value else value.split("?", 1)[0]
    if secret:
        return "set (hidden)" if value else "unset"
    if isinstance(value, tuple):
        return ",".join(str(item) for item in value) or "(none)"
    return "unset" if value is None else str(value)


def configuration_lines(settings: Settings, environ: Mapping[str, str]) -> list[str]:
    lines = []
    for field, declaration in DECLARED:
        origin = "" if declaration.env in environ else "  (default)"
        lines.append(f"{declaration.env}={shown_value(settings, field, declaration.secret)}{origin}")
    return lines


def workers_asked(environ: Mapping[str, str]) -> int:
    raw = environ.get("WEB_CONCURRENCY", "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else 1


def start_warnings(settings: Settings, workers: int, environ: Mapping[str, str]) -> list[str]:
    """What the service says at start about a configuration it accepts."""
    warnings = []
    if settings.sandbox:
        warnings.append("PAYHERO_MODE=sandbox: no real payments; every STK push and callback is simulated")
    if not settings.gate_tokens:
        warnings.append("GATE_TOKEN is not set: ticket check-in is refused until it is")
    if workers > 1 and settings.store_kind == "sqlite" and not settings.redis_url:
        warnings.append(
            f"WEB_CONCURRENCY={workers} on SQLite without REDIS_URL: the launcher runs one worker"
        )
    if not environ.get("TICKET_SIGNING_KEY") and not environ.get("TICKET_SIGNING_KEYS"):
        warnings.append(
            f"TICKET_SIGNING_KEY is not set: the key kept in {settings.data_dir} signs tickets; "
            "a disk that is not kept (a platform's) loses it, and the tickets with it"
        )
    return warnings


def run_check_config(args: argparse.Namespace, settings: Settings) -> int:
    environ = os.environ
    print("\n".join(configuration_lines(settings, environ)))
    print(f"store={settings.store_kind} broker={settings.broker_kind}")
    workers = workers_asked(environ)
    warnings = start_warnings(settings, workers, environ)
    try:
        found = asyncio.run(preflight(settings, workers))
    except StartRefused as refused:
        for warning in warnings:
            print(f"warning: {warning}")
        print(f"error: {refused}", file=sys.stderr)
        return 2
    for warning in [*warnings, *found.warnings]:
        print(f"warning: {warning}")
    print("ok: the service would start with this configuration")
    return 0
