"""The service side of bench.stall_probe: a watchdog thread that samples loop stalls."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
import threading
import time
from collections import Counter
from types import FrameType
from typing import Any

BEAT = 0.01
CHECK = 0.004
LATE = 0.03
REPORTED = 0.05


def _stack(frame: FrameType | None, depth: int = 16) -> str:
    parts: list[str] = []
    while frame is not None and len(parts) < depth:
        code = frame.f_code
        parts.append(f"{os.path.basename(code.co_filename)}:{frame.f_lineno}:{code.co_name}")
        frame = frame.f_back
    return " < ".join(parts)


class StallWatch:
    def __init__(self, path: str) -> None:
        self.out = open(path, "a", buffering=1)
        self.beat = time.perf_counter()
        self.in_gc = False
        self.loop_thread = threading.main_thread().ident or 0
        self.clock = time.pthread_getcpuclockid(self.loop_thread)

    def on_gc(self, phase: str, info: dict[str, Any]) -> None:
        self.in_gc = phase == "start"

    def start_beating(self, loop: asyncio.AbstractEventLoop) -> None:
        self.beat = time.perf_counter()
        loop.call_later(BEAT, self.start_beating, loop)

    def watch(self) -> None:
        started: float | None = None
        stacks: Counter[str] = Counter()
        in_gc = 0
        cpu_at = seen_at = 0.0
        while True:
            time.sleep(CHECK)
            now = time.perf_counter()
            if now - self.beat > LATE:
                if started is None:
                    started, stacks, in_gc = self.beat, Counter(), 0
                    cpu_at, seen_at = time.clock_gettime(self.clock), now
                if self.in_gc:
                    in_gc += 1
                else:
                    stacks[_stack(sys._current_frames().get(self.loop_thread))] += 1
            elif started is not None:
                length = self.beat - started - BEAT
                if length > REPORTED:
                    record = {
                        "at": time.time(),
                        "ms": round(length * 1000, 1),
                        "seen_ms": round((now - seen_at) * 1000, 1),
                        "cpu_ms": round((time.clock_gettime(self.clock) - cpu_at) * 1000, 1),
                        "samples_in_gc": in_gc,
                        "stacks": stacks.most_common(4),
                    }
                    self.out.write(json.dumps(record) + "\n")
                started = None


def install(path: str) -> None:
    """Wrap uvicorn's start so the beat and the watchdog run once the loop does."""
    import uvicorn.server

    watch = StallWatch(path)
    gc.callbacks.append(watch.on_gc)
    original = uvicorn.server.Server.startup

    async def startup(self: Any, sockets: Any = None) -> None:
        watch.start_beating(asyncio.get_running_loop())
        threading.Thread(target=watch.watch, name="stall-watch", daemon=True).start()
        await original(self, sockets)

    uvicorn.server.Server.startup = startup  # type: ignore[method-assign]
