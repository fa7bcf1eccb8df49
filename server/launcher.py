"""The Procfile's web command: uvicorn's own command line, with a deadline on headers and
a listening socket per worker.

    python -m server.launcher server.app:create_app --factory --host 0.0.0.0 --port 8000 ...

Every uvicorn option and variable (`WEB_CONCURRENCY` among them) means what it means to
`uvicorn`, with two differences:
- `--http httptools|h11|auto` is given the same protocol with a header deadline
  (server/ops/header_timeout.py). uvicorn's `--http` takes only its own names, and its
  `Config` takes an import string, so the option is swapped after parsing.
- with `--workers` over 1, each worker listens on a socket of its own (`SO_REUSEPORT`) and
  the kernel spreads connections over them, where uvicorn's workers share one socket and
  do not spread (server/ops/listeners.py).

Before uvicorn starts, the start is checked once (server/ops/preflight.py): every bad
setting on a line of its own, the store and Redis waited for, the schema, PostgreSQL's
connections; a refusal is one line and exit 2, never a traceback from each worker.
On SQLite without Redis there is no broker between processes, so one worker is run
whatever `WEB_CONCURRENCY` says. The port uvicorn was given is the service's `PORT`, so
the sandbox's callbacks and the links go where it listens.
"""

from __future__ import annotations

import importlib.util
import os
import sys

import click
from uvicorn.main import main as uvicorn_command

from server.ops.listeners import worker_per_listener
from server.ops.preflight import preflight_or_exit, settings_or_exit

HTTPTOOLS = "server.ops.header_timeout:HttpToolsHeaderTimeout"
H11 = "server.ops.header_timeout:H11HeaderTimeout"


def protocol_for(http: str) -> str:
    """Our protocol for uvicorn's `--http` name; others (zttp) are left as they are."""
    if http == "auto":
        return HTTPTOOLS if importlib.util.find_spec("httptools") else H11
    return {"httptools": HTTPTOOLS, "h11": H11}.get(http, http)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        with uvicorn_command.make_context("python -m server.launcher", list(args)) as context:
            context.params["http"] = protocol_for(str(context.params["http"]))
            check_before_start(context.params)
            with worker_per_listener():
                uvicorn_command.invoke(context)
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.ClickException as refused:
        refused.show()
        return refused.exit_code
    return 0


def worker_count(option: object, environment: str | None) -> int:
    if isinstance(option, int) and option > 0:
        return option
    if environment and environment.strip().isdigit():
        return max(1, int(environment))
    return 1


def check_before_start(params: dict[str, object]) -> None:
    """Settings, backends and the worker count, in the parent before any worker starts."""
    port = params.get("port")
    if isinstance(port, int) and port != 0:
        # `--port` wins over `PORT` for uvicorn; the settings must agree, or the sandbox's
        # callbacks (built from PUBLIC_BASE_URL's default) go to a port nobody listens on.
        os.environ["PORT"] = str(port)
    settings = settings_or_exit()
    # uvicorn's Config reads WEB_CONCURRENCY itself when `--workers` is not given.
    workers = worker_count(params.get("workers"), os.environ.get("WEB_CONCURRENCY"))
    if workers > 1 and settings.store_kind == "sqlite" and not settings.redis_url:
        print(
            f"warning: WEB_CONCURRENCY={workers} ignored: one worker, because on SQLite without "
            "REDIS_URL no broker carries a payment from one worker to another's waiters (set "
            "REDIS_URL, or DATABASE_URL to PostgreSQL, to run several)",
            file=sys.stderr,
            flush=True,
        )
        params["workers"] = workers = 1
    preflight_or_exit(settings, workers)


if __name__ == "__main__":
    sys.exit(main())
