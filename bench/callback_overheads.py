"""What the overheads cut from a callback cost, before and after: `python -m bench.callback_overheads`.

bench.throughput's CPU per callback moves by ±15% between runs on the shared machine,
more than these cuts; this measures the cut pieces alone, best of several rounds of CPU
time, in one process (nothing here starts the service):

- values: laying out the values of the prepared statements a success callback runs, with
  SQLAlchemy's `construct_params` (before) and `ArgumentLayout` (after), both dialects;
- log lines: the four INFO lines of a callback through the service's handler into
  /dev/null, with logging's defaults (before: caller lookup, thread and process names,
  the time's text per line) and as `configure_logging` sets it up now (after);
- store kind: `is_postgres` parsing the database URL (before) and cached (after);
- log writes: the four lines into a file (as bench/service.py's log) or a pipe to another
  process (as a platform collects a service's output) through a plain
  StreamHandler, a write and a flush a line (before), and through `BatchedStreamHandler`,
  one write every 20 ms (after), on the service's uvloop, each round's turns ended by
  `await asyncio.sleep(0)` on both sides: with all four lines in one turn (a busy loop:
  several callbacks' lines share a turn) and with one line a turn (an idle one, the worst).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any, TextIO
from urllib.parse import urlsplit

from sqlalchemy.dialects import postgresql, sqlite

from bench.report import table
from server.lifecycle import COMPLETED
from server.logs import BatchedStreamHandler, RedactingFormatter, TextFormatter
from server.payments.matching import ORDER_AND_PUSHES, STORE_CALLBACK
from server.store.database import is_postgres, open_database
from server.store.prepared import ArgumentLayout, Prepared
from server.transitions.callback_rows import MARK_CALLBACK, NOTE_RESULT
from server.transitions.changes import RECORD_CHANGE, transition
from server.transitions.outbox_rows import ENQUEUE_POSTGRES, ENQUEUE_SQLITE
from server.transitions.ticket_codes import ORDER_TICKETS, SHORT_CODE_TAKEN, SIGN_TICKET

COMPLETE = transition(COMPLETED, ("receipt_number", "result_code", "result_desc"))
# A success callback for a one-ticket order, in the order it runs them.
CALLBACK_STATEMENTS: tuple[Prepared, ...] = (
    STORE_CALLBACK,
    ORDER_AND_PUSHES,
    COMPLETE,
    RECORD_CHANGE,
    NOTE_RESULT,
    MARK_CALLBACK,
    ORDER_TICKETS,
    SHORT_CODE_TAKEN,
    SIGN_TICKET,
)
ENQUEUE = {"sqlite": ENQUEUE_SQLITE, "postgres": ENQUEUE_POSTGRES}
DIALECTS = {"sqlite": sqlite.dialect(), "postgres": postgresql.asyncpg.dialect()}  # type: ignore[no-untyped-call]
ORDER = "R67cFTEOnxd7ZKK8el1S4gMP"
LINES: tuple[tuple[str, tuple[object, ...]], ...] = (
    (
        "callback received id=%d shape=%s reference=%s checkout=%s payhero=%s result=%s",
        (7, "v2", "ORD-0WFH0V", "ws_CO_SALE_00000015_2", "-", "completed"),
    ),
    ("tickets issued order=%s count=%d", (ORDER, 1)),
    ("outbox order=%s e-mails queued=%s", (ORDER, "welcome,tickets,receipt")),
    (
        "status changed order=%s %s -> %s version=%d source=%s",
        (ORDER, "processing", "completed", 3, "payhero-callback"),
    ),
)


def best_us(work: Callable[[], object], number: int, rounds: int) -> float:
    """Best CPU time of `rounds` rounds of `number` calls, in µs per call."""
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(number):
            work()
        best = min(best, time.process_time() - start)
    return best / number * 1e6


def values_work(dialect: str, *, after: bool) -> Callable[[], object]:
    laid_out = []
    for prepared in (*CALLBACK_STATEMENTS, ENQUEUE[dialect]):
        compiled: Any = prepared.statement.compile(dialect=DIALECTS[dialect])
        names = tuple(compiled.positiontup or ()) if dialect == "sqlite" else tuple(sorted(compiled.params))
        values = {bind.key: 1 for bind in compiled.bind_names if bind.required}
        laid_out.append((compiled, names, values, ArgumentLayout(compiled, names)))

    def before() -> None:
        for compiled, names, values, _ in laid_out:
            params = compiled.construct_params(params=values, _check=True)
            processors = compiled._bind_processors
            [processors[n](params[n]) if n in processors else params[n] for n in names]

    def now() -> None:
        for _, _, values, layout in laid_out:
            layout.args(values)

    return now if after else before


def logging_work(*, after: bool) -> Callable[[], object]:
    logger = logging.getLogger("bench.callback_overheads")
    logger.handlers[:] = []
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handler = logging.StreamHandler(open(os.devnull, "w"))
    inner = TextFormatter() if after else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler.setFormatter(RedactingFormatter(inner, ["sandbox-secret-0123456789"]))
    logger.addHandler(handler)

    def work() -> None:
        for message, args in LINES:
            logger.info(message, *args)

    return work


@contextlib.contextmanager
def log_stream(into: str) -> Iterator[TextIO]:
    """A file (bench/service.py's log) or a pipe to another process (a platform's collector)."""
    if into == "file":
        with tempfile.TemporaryFile("w") as file:
            yield file
        return
    reader = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    assert reader.stdin is not None
    try:
        # Line-buffered, as `sys.stderr` is.
        with open(reader.stdin.fileno(), "w", closefd=False, buffering=1) as pipe:
            yield pipe
    finally:
        reader.stdin.close()
        reader.wait()


def turns_us(*, buffered: bool, per_turn: int, into: str, number: int, rounds: int) -> float:
    """Best CPU time of a callback's four lines, in µs, `per_turn` lines a loop turn."""
    import uvloop

    logger = logging.getLogger("bench.callback_overheads.turns")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    lines = [LINES[i : i + per_turn] for i in range(0, len(LINES), per_turn)]

    async def callbacks() -> None:
        for _ in range(number):
            for turn in lines:
                for message, args in turn:
                    logger.info(message, *args)
                await asyncio.sleep(0)

    best = float("inf")
    with log_stream(into) as stream:
        handler = BatchedStreamHandler(stream) if buffered else logging.StreamHandler(stream)
        handler.setFormatter(RedactingFormatter(TextFormatter(), ["sandbox-secret-0123456789"]))
        logger.handlers[:] = [handler]
        try:
            for _ in range(rounds):
                loop = uvloop.new_event_loop()
                start = time.process_time()
                loop.run_until_complete(callbacks())
                handler.flush()  # the last batch, within the time too
                best = min(best, time.process_time() - start)
                loop.close()
                if into == "file":
                    stream.seek(0)
                    stream.truncate()
        finally:
            logger.handlers[:] = []
    return best / number * 1e6


def set_record_switches(*, after: bool) -> None:
    logging._srcfile = None if after else os.path.normcase(logging.addLevelName.__code__.co_filename)
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = not after


def store_work(*, after: bool) -> Callable[[], object]:
    database = open_database("postgresql://bench@127.0.0.1:5432/bench")
    url = str(database.url)
    if after:
        return lambda: is_postgres(database)
    # What `databases`' `DatabaseURL(url).dialect` did on each call: the URL split again.
    return lambda: urlsplit(url).scheme.split("+")[0].startswith("postgres")


def run(number: int, rounds: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for dialect in DIALECTS:
        before = best_us(values_work(dialect, after=False), number, rounds)
        after = best_us(values_work(dialect, after=True), number, rounds)
        rows.append({"piece": f"values of 11 statements ({dialect})", "before": before, "after": after})
    measured = {}
    found = (logging._srcfile, logging.logThreads, logging.logProcesses, logging.logMultiprocessing)
    try:
        for after in (False, True):
            set_record_switches(after=after)
            measured[after] = best_us(logging_work(after=after), number, rounds)
    finally:
        logging._srcfile, logging.logThreads, logging.logProcesses, logging.logMultiprocessing = found
    rows.append({"piece": "4 log lines", "before": measured[False], "after": measured[True]})
    try:
        set_record_switches(after=True)
        for into in ("file", "pipe"):
            for per_turn, label in ((4, "all in one loop turn"), (1, "one a loop turn")):
                before, after = (
                    turns_us(buffered=buffered, per_turn=per_turn, into=into, number=number, rounds=rounds)
                    for buffered in (False, True)
                )
                piece = f"4 log lines into a {into}, {label}"
                rows.append({"piece": piece, "before": before, "after": after})
    finally:
        logging._srcfile, logging.logThreads, logging.logProcesses, logging.logMultiprocessing = found
    before = best_us(store_work(after=False), number, rounds)
    after = best_us(store_work(after=True), number, rounds)
    rows.append({"piece": "is_postgres, once", "before": before, "after": after})
    for row in rows:
        row["saved"] = row["before"] - row["after"]
    return rows


def cli(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=2000, help="callbacks' worth per round")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    rows = run(args.number, args.rounds)
    columns = ["piece", "before µs", "after µs", "saved µs"]
    cells = [[r["piece"], r["before"], r["after"], r["saved"]] for r in rows]
    print(table("Callback overheads", columns, cells))
    return rows


if __name__ == "__main__":
    cli()
