"""uvicorn's `--workers` (`WEB_CONCURRENCY`), each worker on a listening socket of its own.

uvicorn binds one socket in its supervisor and every worker accepts from it. A worker woken
by new connections accepts all that are queued (libuv loops on `accept()` until it would
block, asyncio up to its backlog), so connections do not spread: 100,000 waiters on 7
workers held 19,776 on one and 2,056 on another, and the full ones refused the rest
(82,311 held, docs/BENCHMARKS.md section 7). With `SO_REUSEPORT` each worker listens on a
socket of its own bound to the same address, and the kernel hashes each new connection
(its addresses and ports) to one of them: the spread no longer depends on which worker
woke first (7,388 to 7,636 of 30,000 on 4 workers, where the shared socket gave 6,169 to
9,196).

The supervisor still binds uvicorn's socket, so the address is checked, the port (even 0)
is held and "Uvicorn running on" is logged once, but nothing listens on it. What a worker
receives in its place is a `WorkerListener`: a spawned worker gets its arguments pickled,
and this one unpickles into a socket the worker binds itself. Everything else is uvicorn's
own supervisor: health checks, restarts, SIGHUP, SIGTTIN/SIGTTOU, graceful shutdown, and
workers that are multiprocessing's spawn (server/shutdown.py's lifeline relies on it).

The price: a worker's accept queue ends with its socket. Connections the kernel had queued
for a worker that stops (a crash, a SIGHUP restart) are reset, unless the host sets
`net.ipv4.tcp_migrate_req=1` (Linux 5.14), which moves them to another worker's socket.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import socket
import sys
from collections.abc import Iterator
from typing import Any, cast

from uvicorn.config import STARTUP_FAILURE, Config
from uvicorn.supervisors.multiprocess import Multiprocess

log = logging.getLogger("uvicorn.error")

# The module: the package's attribute of that name is the command it defines.
UVICORN_MAIN: Any = importlib.import_module("uvicorn.main")

BALANCED_FAMILIES = (socket.AF_INET, socket.AF_INET6)


def listen_on_own_socket(family: int, address: Any) -> socket.socket:
    """A socket of this worker's own on `address`, which other workers' sockets share."""
    sock = socket.socket(family=family)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        # As uvicorn's own bind: the supervisor stops instead of restarting this worker.
        log.error("worker could not bind %s: %s", address, exc)
        sys.exit(STARTUP_FAILURE)
    return sock


class WorkerListener:
    """In the supervisor, the address of its socket; in a worker, a socket bound anew there."""

    def __init__(self, bound: socket.socket) -> None:
        self.family = int(bound.family)
        self.address = bound.getsockname()

    def __reduce__(self) -> tuple[Any, tuple[int, Any]]:
        return listen_on_own_socket, (self.family, self.address)


class BalancedMultiprocess(Multiprocess):
    """uvicorn's supervisor, handing each worker it starts a `WorkerListener`."""

    def __init__(self, config: Config, sockets: list[socket.socket]) -> None:
        per_worker = [WorkerListener(s) if s.family in BALANCED_FAMILIES else s for s in sockets]
        # The supervisor only passes them on to the workers it starts (pickled, see above).
        super().__init__(config, cast(list[socket.socket], per_worker))
        self.held = sockets  # the bound address stays ours while workers come and go


@contextlib.contextmanager
def worker_per_listener() -> Iterator[None]:
    """uvicorn's `run()` names its supervisor class and has no option for another: ours is
    put in its place while the command runs."""
    uvicorn_supervisor = UVICORN_MAIN.Multiprocess
    UVICORN_MAIN.Multiprocess = BalancedMultiprocess
    try:
        yield
    finally:
        UVICORN_MAIN.Multiprocess = uvicorn_supervisor
