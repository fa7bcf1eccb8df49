"""`--instructions`: the service's CPU work counted in instructions, not seconds.

    python -m bench.throughput --stores sqlite,postgres --orders 100 --instructions

On a shared machine the CPU seconds a callback costs spread by 10-40% from one run to the
next (docs/BENCHMARKS.md), more than most changes worth making; an instruction count does
not depend on what else the machine runs. The service runs under valgrind's callgrind with
instrumentation off until a measured phase, and `counted(pid, out_dir)` turns it on, zeroes
the counters, and dumps them around that phase: every user-space instruction of the
process, all its threads, in that window. A dependency's C code counts as much as ours,
which is the point: asyncpg's protocol work and SQLite's own are part of what a callback
costs. Instructions are not time (a cache miss costs more than an add), so a change is
judged by both: instructions on any machine, seconds on a quiet one.

Needs `valgrind` (Debian's package); the bench says so and stops without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

# Only `python -m server.launcher` runs under valgrind: `sh -c exec ...` keeps the pid.
LAUNCHER = "python -m server.launcher"


def callgrind_command(out_dir: Path) -> list[str]:
    """valgrind's callgrind with instrumentation off, a dump per process in `out_dir`: what
    a process to count is run under, before its own command."""
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise SystemExit("--instructions needs valgrind: apt-get install valgrind")
    out_dir.mkdir(parents=True, exist_ok=True)
    return [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        "--dump-instr=no",
        f"--callgrind-out-file={out_dir}/callgrind.out.%p",
    ]


def valgrind_prefix(out_dir: Path) -> str:
    """The service command's launcher under `callgrind_command` (`Service.command_prefix`)."""
    return " ".join([*callgrind_command(out_dir), LAUNCHER])


@dataclass
class Count:
    """Instructions the process ran inside a `counted` block (0 until it ends)."""

    instructions: int = 0


async def control(pid: int, *options: str) -> None:
    process = await asyncio.create_subprocess_exec(
        "callgrind_control",
        *options,
        str(pid),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"callgrind_control {' '.join(options)} {pid}: {stderr.decode().strip()}")


def dumps(out_dir: Path, pid: int) -> list[Path]:
    """The numbered dumps `callgrind_control -d` made for `pid`, oldest first."""
    numbered = out_dir.glob(f"callgrind.out.{pid}.*")
    return sorted(numbered, key=lambda path: int(path.suffix.lstrip(".")))


def summary(dump: Path) -> int:
    match = re.search(r"^summary:\s*(\d+)", dump.read_text(errors="replace"), re.MULTILINE)
    if match is None:
        raise RuntimeError(f"no summary line in {dump}")
    return int(match.group(1))


@contextlib.asynccontextmanager
async def counted(pid: int, out_dir: Path | None) -> AsyncIterator[Count | None]:
    """Counts the instructions `pid` (a service under `valgrind_prefix`) runs in the block;
    yields None and counts nothing without `out_dir`, as `profiled` samples nothing."""
    if out_dir is None:
        yield None
        return
    count = Count()
    before = len(dumps(out_dir, pid))
    await control(pid, "--instr=on")
    # Instrumenting code already run is not free: what ran before the block is zeroed.
    await control(pid, "--zero")
    try:
        yield count
    finally:
        await control(pid, "--dump")
        await control(pid, "--instr=off")
    made = dumps(out_dir, pid)
    if len(made) <= before:
        raise RuntimeError(f"callgrind wrote no dump for {pid} in {out_dir}")
    count.instructions = summary(made[-1])
