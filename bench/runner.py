"""Running a scenario: uvloop when installed, the file limit raised, one asyncio.run."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from bench.report import write_results
from bench.system import raise_nofile

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run `main` on uvloop if it is installed: the client must not be the bottleneck."""
    raise_nofile()
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def sizes(text: str) -> list[int]:
    """`1000,5k,15000` into [1000, 5000, 15000]."""
    found = []
    for part in text.split(","):
        part = part.strip().lower()
        found.append(int(float(part[:-1]) * 1000) if part.endswith("k") else int(part))
    return found


Payload = dict[str, Any]


def parser(scenario: str, doc: str | None) -> argparse.ArgumentParser:
    """The scenario's argument parser, with the options every scenario shares."""
    found = argparse.ArgumentParser(
        prog=f"python -m bench.{scenario}",
        description=doc,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    found.add_argument("--out", type=Path, default=None, help="results folder (default bench/results)")
    return found


def add_holding(parser: argparse.ArgumentParser, *, hold: float = 25.0, batch_help: str = "") -> None:
    """`--hold`, `--batch` and `--settle`: how the scenarios that measure memory ramp and wait."""
    parser.add_argument("--hold", type=float, default=hold, help="seconds each /wait asks to be held")
    parser.add_argument("--batch", type=int, default=500, help=batch_help or "waiters opened per ramp step")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds to wait before reading RSS")


def add_pin(parser: argparse.ArgumentParser, server: str) -> None:
    """`--pin/--no-pin`: the reference runs keep server and client on separate cores."""
    parser.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=True,
        help=f"{server} on core 1, this client on core 0 (when there are two cores or more)",
    )


def cli(
    scenario: str,
    arguments: argparse.ArgumentParser,
    main: Callable[[argparse.Namespace], Coroutine[Any, Any, Payload]],
    report: Callable[[Payload], None],
    argv: list[str] | None = None,
) -> Payload:
    """Parse, run, print the table, write the JSON: the whole of every scenario's command."""
    args = arguments.parse_args(argv)
    payload = run(main(args))
    # Written first: a table that fails to print must not lose a run of many minutes.
    written = write_results(scenario, payload, out=args.out)
    report(payload)
    print(f"\nresults: {written}", flush=True)
    return payload


async def each_size(
    sizes_text: str,
    repeat: int,
    measure: Callable[[int], Awaitable[Payload]],
    progress: Callable[[Payload], str],
) -> list[Payload]:
    """`measure(size)` for every size, `repeat` times each (a fresh service every time)."""
    results = []
    for size in sizes(sizes_text):
        for attempt in range(repeat):
            result = await measure(size)
            result["attempt"] = attempt + 1
            results.append(result)
            print(f"  {size} (run {attempt + 1}): {progress(result)}", flush=True)
    return results
