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
"""

from __future__ import annotations

import importlib.util
import sys

import click
from uvicorn.main import main as uvicorn_command

from server.ops.listeners import worker_per_listener

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
            with worker_per_listener():
                uvicorn_command.invoke(context)
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.ClickException as refused:
        refused.show()
        return refused.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
