"""Loaded by every Python started with this folder on PYTHONPATH (bench.stall_probe sets it).

Only in the service (`python -m server.launcher`) and only with STALL_PROBE set (a file path): a
timer on the event loop beats every 10 ms, and a thread checks the beat every 4 ms. While
the beat is over 30 ms late the loop is stalled: the thread samples the loop thread's
Python stack and reads that thread's CPU clock. Each stall over 50 ms is written to the
file: its length, the loop thread's CPU over the part the thread saw, whether the collector
ran, and the commonest stacks. CPU far below the length means the process was not running
(another process had the core), not that our code was slow.
"""

from __future__ import annotations

import os
import sys

if os.environ.get("STALL_PROBE") and "server.launcher" in getattr(sys, "orig_argv", []):
    from bench.stall_watch import install

    install(os.environ["STALL_PROBE"])
