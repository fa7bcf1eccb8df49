"""Which code the service's event loop was running when it stalled, for any bench command.

    python -m bench.stall_probe -- python -m bench.fanout --held 10000 --complete 1000

Runs the command with `bench/stall_site` on PYTHONPATH, so the service it starts loads a
watchdog (bench/stall_watch.py): every stall of the loop over 50 ms is recorded with the
loop thread's CPU time during it and the commonest Python stacks. Then prints them, the
time of each from the command's start, and the top frames. The loop-lag metric on
`/metrics` says how long the stalls were; this says what they were: a stall with CPU
near its length is our own code running without a pause (`ours`), one with little CPU
is the process waiting for a core. Costs 100 timer callbacks a second: a diagnosis, not a
measurement to quote.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.report import table
from bench.system import REPO

SITE = Path(__file__).with_name("stall_site")
# A stall is our code when the loop thread had the CPU for most of it.
OURS = 0.6


def frames_of_ours(stack: str, count: int = 3) -> str:
    """The first frames of a stack that are not the interpreter's or a library's plumbing."""
    frames = [f for f in stack.split(" < ") if not f.startswith(("<frozen", "runners.py", "base_events.py"))]
    return " < ".join(frames[:count])


def read_stalls(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run(command: list[str], path: Path) -> int:
    env = dict(os.environ)
    env["STALL_PROBE"] = str(path)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SITE), str(REPO), env.get("PYTHONPATH", "")) if p)
    return subprocess.call(command, env=env)


def report(stalls: list[dict[str, Any]], started: float) -> None:
    rows = []
    for stall in stalls:
        share = stall["cpu_ms"] / stall["seen_ms"] if stall["seen_ms"] else 0.0
        top = stall["stacks"][0][0] if stall["stacks"] else ""
        rows.append(
            [
                round(stall["at"] - started, 1),
                stall["ms"],
                f"{stall['cpu_ms']:.0f} / {stall['seen_ms']:.0f}",
                "ours" if share >= OURS else "waited",
                stall["samples_in_gc"],
                frames_of_ours(top),
            ]
        )
    print(
        table(
            "Event-loop stalls over 50 ms (service)",
            ["s from start", "ms", "loop CPU / seen ms", "", "GC samples", "commonest stack"],
            rows,
        )
    )
    ours = [s for s in stalls if s["seen_ms"] and s["cpu_ms"] / s["seen_ms"] >= OURS]
    longest = max((s["ms"] for s in ours), default=0.0)
    print(
        f"\n{len(stalls)} stalls over 50 ms, {len(ours)} of them ours; the longest of ours {longest:.0f} ms"
    )


def cli(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(prog="python -m bench.stall_probe", description=__doc__)
    parser.add_argument("--keep", type=Path, help="also keep the stall records (JSON lines) here")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the bench command")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the bench command after --")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "stalls.jsonl"
        started = time.time()
        code = run(command, path)
        stalls = read_stalls(path)
        if args.keep is not None:
            args.keep.write_text(path.read_text() if path.exists() else "")
    report(stalls, started)
    if code:
        raise SystemExit(code)
    return stalls


if __name__ == "__main__":
    cli(sys.argv[1:])
