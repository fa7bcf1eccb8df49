"""Draining on a platform restart: SIGTERM ends every wait before uvicorn stops serving.

uvicorn installs its own SIGTERM/SIGINT handlers before the lifespan starts and, on a
signal, waits for open requests to finish. A held `/wait` or an SSE stream would keep it
waiting until its graceful timeout; chaining our handler in front answers them at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

log = logging.getLogger("server.shutdown")

SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextlib.contextmanager
def drain_on_shutdown_signal(drain: Callable[[], Any]) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        # Signals only reach the main thread (e.g. a server run inside a test thread).
        yield
        return
    loop = asyncio.get_running_loop()
    previous: dict[signal.Signals, Any] = {}

    def handler(signum: int, frame: FrameType | None) -> None:
        log.info("received %s: draining waiters", signal.Signals(signum).name)
        loop.call_soon_threadsafe(drain)
        chained = previous.get(signal.Signals(signum))
        if callable(chained):
            chained(signum, frame)

    for sig in SIGNALS:
        previous[sig] = signal.getsignal(sig)
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextlib.contextmanager
def stop_with_supervisor() -> Iterator[None]:
    """A worker of `uvicorn --workers N` (WEB_CONCURRENCY) stops when its supervisor is gone.

    uvicorn's workers outlive a supervisor killed with SIGKILL: measured here, both workers
    and their e-mail composing processes still ran 5 s later, serving on the inherited
    socket with nothing left to restart or stop them. A process started by multiprocessing's
    spawn (as uvicorn starts its workers) holds a sentinel that becomes readable once its
    parent has exited; on it the worker sends itself SIGTERM and stops as on a restart:
    held waits answered, then its own helpers closed.
    """
    parent = multiprocessing.parent_process()
    sentinel = None if parent is None else parent.sentinel
    if parent is None or sentinel is None:  # a process of its own, not a spawned worker
        yield
        return
    loop = asyncio.get_running_loop()

    def supervisor_gone() -> None:
        loop.remove_reader(sentinel)
        log.warning("the uvicorn supervisor (pid %s) is gone: stopping this worker", parent.pid)
        os.kill(os.getpid(), signal.SIGTERM)

    loop.add_reader(sentinel, supervisor_gone)
    try:
        yield
    finally:
        loop.remove_reader(sentinel)
