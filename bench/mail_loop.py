"""What delivering an e-mail costs the service's event loop: `python -m bench.mail_loop`.

The outbox worker as the service builds it (`build_outbox_worker`: the composing process,
SQLite on the loop, the configured sender) delivers the e-mails of paid orders (welcome,
tickets with `--tickets` QRs, receipt) to each of three senders:
- null: a sender that takes the e-mail and does nothing, so what is left is the outbox's
  own work (claim, mark sent) and taking the composed e-mail back from its process;
- eml: `.eml` files in the data directory (no `SMTP_URL`, as the flash sale runs);
- smtp: a real SMTP server (aiosmtpd's `Sink`, in a process of its own) on loopback.

Reported per e-mail, median of `--rounds` rounds: CPU time of the event loop's thread
(`time.thread_time` around `deliver_due`, which runs on it), and of the whole service
process (every thread: the pool's thread that unpickles what the composing process sends
back, the thread that writes .eml files; not the composing process nor the SMTP server).
Nothing else runs in this process, so a loaded machine slows it down but changes little
of the CPU time it is charged.

`BENCH_SERVICE_DIR=<an export of main>` measures that tree's `server/` with this same
client (the "before" of docs/BENCHMARKS.md, "Issue 22: e-mails flattened off the loop").
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

from bench.report import table, write_results

HOST = "127.0.0.1"
SENDERS = ("null", "eml", "smtp")


class NullSender:
    """Takes the e-mail, sends nothing: remembers only what it was handed, to show which code ran."""

    kind = "null"

    def __init__(self) -> None:
        self.handed: set[str] = set()

    async def send(self, mail: Any, key: str) -> str:
        self.handed.add(type(mail).__name__)
        return "nowhere"

    def close(self) -> None:
        pass


def use_service_dir() -> str:
    """Import `server` from BENCH_SERVICE_DIR when set (and make the composing process do so)."""
    service_dir = os.environ.get("BENCH_SERVICE_DIR")
    if service_dir:
        # Only its `server` package: the composing process imports this module (`bench`)
        # by name too, and the other tree's `bench` has no such module. It gets this
        # sys.path from multiprocessing's preparation data.
        only_server = Path(tempfile.mkdtemp(prefix="bench-service-dir-"))
        atexit.register(shutil.rmtree, only_server)
        (only_server / "server").symlink_to(Path(service_dir).resolve() / "server")
        sys.path.insert(0, str(only_server))
    import server

    return str(Path(server.__file__).resolve().parent)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def smtp_sink() -> Iterator[str]:
    """aiosmtpd's Sink (accepts and drops every message) in a process of its own: its URL."""
    port = free_port()
    command = [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"{HOST}:{port}", "-c", "aiosmtpd.handlers.Sink"]
    process = subprocess.Popen(command)
    try:
        deadline = time.monotonic() + 15
        while True:
            with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=1):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the SMTP sink did not start")
            time.sleep(0.05)
        yield f"smtp://{HOST}:{port}"
    finally:
        process.terminate()
        process.wait()


def letters(order: int, tickets: int) -> list[tuple[str, str, dict[str, Any]]]:
    """(key, kind, payload) of a paid order's three e-mails, as the outbox holds them."""
    order_id = f"bench{order:019d}"
    fields: dict[str, Any] = {
        "order_id": order_id,
        "order_number": f"ORD-B{order:05d}",
        "first_name": "Amina",
        "event_name": "Benchmark Fest",
        "event_starts_at": "2026-12-12T16:00:00+03:00",
        "event_timezone": "Africa/Nairobi",
        "venue": "loopback",
        "ticket_type_name": "Early Bird",
        "quantity": tickets,
        "amount": 300 * tickets,
        "currency": "KES",
        "receipt_number": f"SAE{order:07d}",
        "paid_at": "2026-11-22T02:44:35.638Z",
        "language": "en",
    }
    listed = [
        {
            "ticket_id": f"{order_id}-{n}",
            "ticket_type": "early-bird",
            "code": f"T1.{order_id}.{n}.sig" + "x" * 40,
        }
        for n in range(tickets)
    ]
    return [
        (f"customer:{order_id}:welcome", "welcome", fields),
        (f"order:{order_id}:tickets", "tickets", {**fields, "tickets": listed}),
        (f"order:{order_id}:receipt", "receipt", fields),
    ]


@contextlib.asynccontextmanager
async def outbox_worker(data_dir: Path, smtp_url: str | None) -> AsyncIterator[Any]:
    from server.fulfilment import build_outbox_worker
    from server.settings import Settings
    from server.store.database import migrate, open_database

    environ = {"DATA_DIR": str(data_dir), "DATABASE_URL": f"sqlite+aiosqlite:///{data_dir / 'bench.sqlite3'}"}
    if smtp_url:
        environ["SMTP_URL"] = smtp_url
    settings = Settings.from_env(environ, dotenv=None)
    database = open_database(settings.database_url)
    await database.connect()
    worker = build_outbox_worker(settings, database)
    try:
        await migrate(database)
        yield worker
    finally:
        worker.close()
        await database.disconnect()


async def enqueue_orders(worker: Any, first: int, count: int, tickets: int) -> None:
    from server.transitions.outbox_rows import enqueue

    for order in range(first, first + count):
        for key, kind, payload in letters(order, tickets):
            await enqueue(
                worker.database,
                key=key,
                kind=kind,
                order_id=None,
                recipient="amina@example.com",
                payload=payload,
            )


async def measure(
    sender: str, smtp_url: str | None, *, orders: int, tickets: int, rounds: int
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-mail-") as tmp:
        async with outbox_worker(Path(tmp), smtp_url if sender == "smtp" else None) as worker:
            null = NullSender()
            if sender == "null":
                worker.sender = null
            # One order first: starts the composing process, warms the templates and caches.
            await enqueue_orders(worker, 0, 1, tickets)
            assert (await worker.deliver_due()).sent == 3
            loop_us, process_us = [], []
            for round_ in range(rounds):
                await enqueue_orders(worker, 1 + round_ * orders, orders, tickets)
                thread_start, process_start = time.thread_time(), time.process_time()
                report = await worker.deliver_due()
                thread_end, process_end = time.thread_time(), time.process_time()
                emails = orders * 3
                assert (report.sent, report.failed) == (emails, 0), report
                loop_us.append((thread_end - thread_start) / emails * 1e6)
                process_us.append((process_end - process_start) / emails * 1e6)
    return {
        "sender": sender,
        "loop_us_per_email": statistics.median(loop_us),
        "process_us_per_email": statistics.median(process_us),
        "rounds_loop_us": loop_us,
        "rounds_process_us": process_us,
        "handed": sorted(null.handed),
    }


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    import uvloop

    results = []
    with smtp_sink() as url:
        for sender in args.senders.split(","):
            runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
            with runner:
                results.append(
                    runner.run(
                        measure(sender, url, orders=args.orders, tickets=args.tickets, rounds=args.rounds)
                    )
                )
    return results


def cli(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=100, help="paid orders per round (3 e-mails each)")
    parser.add_argument("--tickets", type=int, default=1, help="tickets (QRs) in each tickets e-mail")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--senders", default=",".join(SENDERS))
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    server_dir = use_service_dir()
    results = run(args)
    handed = sorted({name for r in results for name in r["handed"]})
    print(
        table(
            f"CPU per e-mail delivered, µs (median of {args.rounds} rounds of {args.orders * 3} e-mails;"
            f" server/ from {server_dir}; the composing process hands back {', '.join(handed)})",
            ["sender", "event loop thread", "service process (all threads)"],
            [[r["sender"], r["loop_us_per_email"], r["process_us_per_email"]] for r in results],
        )
    )
    payload = {"server_dir": server_dir, "results": results}
    path = write_results("mail_loop", payload, out=args.out)
    print(f"\nresults: {path}")
    return payload


if __name__ == "__main__":
    cli()
