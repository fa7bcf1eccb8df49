"""Fault injection for the crash-consistency tests: die like `kill -9` at a named point.

Only active when `CRASH_POINT` names the point; production never sets it.
"""

from __future__ import annotations

import logging
import os
import signal

log = logging.getLogger("server.faults")


def crash_if(configured: str | None, point: str) -> None:
    if configured is not None and configured == point:
        log.critical("CRASH_POINT %s reached: killing this process with SIGKILL", point)
        os.kill(os.getpid(), signal.SIGKILL)
