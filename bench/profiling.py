"""`--profile`: py-spy samples the service process during a scenario's measured phase.

    python -m bench.throughput --stores sqlite --profile
    python -m bench.fanout --held 10000 --profile

py-spy (a bench-only dependency) attaches to the running uvicorn by pid, samples every
thread at `RATE` Hz without slowing it much, and writes collapsed stacks. The summary
printed beside the table is each function's share of the samples that contain it
("inclusive"), the server's own functions and the few library ones worth naming.

    python -m bench.profiling bench/results/flash_sale-sqlite.profile.txt OutboxWorker flatten_message

prints, for each name given, its share of the event loop thread's samples (a profile
already written: no service runs).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

RATE = 250
# A frame of every stack sampled on the service's event loop thread (other threads start
# at threading's `_bootstrap`).
LOOP_THREAD = "asyncio_run (uvicorn/"
# Frames worth a line in the summary: our code, and where the event loop's time goes.
INTERESTING = ("server/", "sqlalchemy/", "asyncpg/", "email/", "png.py", "qrcode/", "logging/")


def py_spy() -> str:
    found = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if found is None:
        raise SystemExit("py-spy is missing: pip install -e '.[bench]'")
    return found


@contextlib.asynccontextmanager
async def profiled(pid: int, out: Path | None) -> AsyncIterator[None]:
    """Sample `pid` while the block runs, into `out` (collapsed stacks); no-op without `out`."""
    if out is None:
        yield
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    command = [py_spy(), "record", "--pid", str(pid), "--rate", str(RATE), "--format", "raw"]
    process = await asyncio.create_subprocess_exec(
        *command,
        "--output",
        str(out),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    await asyncio.sleep(1.0)  # attached before the measured phase starts
    try:
        yield
    finally:
        process.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        await process.wait()


def _frame_name(frame: str) -> str:
    """`function (path/to/file.py:12)` -> `function (file.py)`: one line per function."""
    function, _, where = frame.partition(" (")
    path = where.rsplit(":", 1)[0]
    return f"{function} ({'/'.join(path.split('/')[-2:])})"


def summary(collapsed: Path, top: int = 25, within: str | None = None) -> list[tuple[float, str]]:
    """(percent of samples, function) for the most frequent interesting functions.

    With `within`, only the samples whose stack has a frame containing it count (a route's
    own samples, say), and the percentages are of those.
    """
    total = 0
    inclusive: Counter[str] = Counter()
    for stack, samples in _stacks(collapsed, within):
        total += samples
        names = {_frame_name(frame) for frame in stack.split(";") if any(m in frame for m in INTERESTING)}
        for name in names:
            inclusive[name] += samples
    if total == 0:
        return []
    return [(100.0 * n / total, name) for name, n in inclusive.most_common(top)]


def seconds_within(collapsed: Path, within: str) -> float:
    """Seconds the sampled threads spent in a frame containing `within` (its samples over
    `RATE`). Not a share of all samples: py-spy samples threads idle in a wait too."""
    return sum(samples for _, samples in _stacks(collapsed, within)) / RATE


def loop_share(collapsed: Path, within: str) -> float:
    """Percent of the event loop thread's samples whose stack has a frame containing `within`."""
    loop = _stacks(collapsed, LOOP_THREAD)
    total = sum(samples for _, samples in loop)
    found = sum(samples for stack, samples in loop if within in stack)
    return 100.0 * found / total if total else 0.0


def _stacks(collapsed: Path, within: str | None) -> list[tuple[str, int]]:
    found = []
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if within is None or within in stack:
            found.append((stack, int(count)))
    return found


def print_summary(collapsed: Path, top: int = 25) -> None:
    print(f"\nprofile: {collapsed} (py-spy, {RATE} Hz; share of samples containing each function)")
    for percent, name in summary(collapsed, top):
        print(f"  {percent:5.1f}%  {name}")


if __name__ == "__main__":
    profile, *names = sys.argv[1:]
    for name in names:
        print(f"{loop_share(Path(profile), name):5.1f}%  of the event loop's samples contain {name}")
