"""Draining on a platform restart: SIGTERM ends every wait before uvicorn stops serving.

uvicorn installs its own SIGTERM/SIGINT handlers before the lifespan starts and, on a
signal, waits for open requests to finish. A held `/wait` or an SSE stream would keep it
waiting until its graceful timeout; chaining our handler in front answers them at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
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
