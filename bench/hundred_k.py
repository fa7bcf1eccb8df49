"""Scenario 7, one host: 100,000 waiters on `WEB_CONCURRENCY` workers, one Redis, one PostgreSQL.

    python -m bench.hundred_k --waiters 100000 --workers 7 --complete 1000

The service starts as the Procfile says, with `WEB_CONCURRENCY` set: each worker listens on
a socket of its own (`SO_REUSEPORT`, server/ops/listeners.py) and the kernel hashes each
connection to one of them; `--listeners shared` runs plain `uvicorn` instead, whose workers
share one socket. Each worker has its own hub and its own Redis connections, on a
PostgreSQL database made for this run (`--waiters` orders written straight into it first,
as bench.seed does). Half the waiters are SSE and half `/wait`, each on its own order, held
by `--clients` load processes (bench.crowd), each connecting from its own 127.0.0.x so
that no source address runs out of ports. Then `--complete` held orders, half of each
kind, are paid through the callback route over `--connections` connections, which the
kernel hands to any worker: most statuses reach their waiter through Redis from another
worker. Reported: every waiter answered, fan-out p50/p99/max (callback sent -> status
received), memory per waiter summed over the workers, waiters held per worker, and each
worker's Redis connections (CLIENT LIST) with a few waiters and with all of them: constant
in waiters.

Before it starts and when it fails it says what stops it going further: open files per
process (`ulimit -Hn`), ports per source address, memory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import resource
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench import runner
from bench.fanout import pick_both_kinds
from bench.http import HttpError
from bench.orders import Order, Tally, send_callbacks
from bench.postgres import pool_per_process, temporary_database
from bench.report import summary_ms, table
from bench.scale_out import REDIS_URL, redis_clients
from bench.seed import seed_orders
from bench.service import Service
from bench.system import REPO, children, raise_nofile, rss_kb
from bench.waiters import SSE, WAIT, split_kinds

# Waiters per worker and per load process when not told: 5,000 under the 20,000 files
# a process may open here, for the service's own files and room to spare.
PER_WORKER = 15_000
PER_CLIENT = 15_000
FIRST_STEP = 0.01
# Plain uvicorn for `--listeners shared`: its workers share the supervisor's socket (and its
# `--http httptools` is uvicorn's own protocol, without the header deadline).
PLAIN_UVICORN = f"{sys.executable} -m uvicorn"


@dataclass(frozen=True)
class Planned:
    kind: str
    order: Order


@dataclass(frozen=True)
class Limits:
    open_files: int
    ports_per_source: int
    memory_available_mb: int

    @classmethod
    def here(cls) -> Limits:
        low, high = (int(x) for x in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
        available = 0
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                available = int(line.split()[1]) // 1024
        return cls(resource.getrlimit(resource.RLIMIT_NOFILE)[1], high - low + 1, available)


def what_would_stop(waiters: int, workers: int, clients: int, limits: Limits) -> list[str]:
    """The limits this run would hit, known before it starts."""
    found = []
    per_worker = math.ceil(waiters / workers)
    spare = min(500, limits.open_files // 4)  # the service's own files: database, Redis, logs
    if per_worker + spare > limits.open_files:
        enough = math.ceil(waiters / (limits.open_files - spare))
        found.append(
            f"open files: {per_worker:,} waiters per worker, {limits.open_files:,} files per process"
            f" (ulimit -Hn): raise WEB_CONCURRENCY to {enough} or more"
        )
    per_client = math.ceil(waiters / clients)
    if per_client + 100 > min(limits.open_files, limits.ports_per_source):
        found.append(
            f"load client: {per_client:,} connections per process, {limits.open_files:,} files and"
            f" {limits.ports_per_source:,} ports per source address: raise --clients"
        )
    # Measured: about 15 KB per waiter in the service, 5 in the client, 90 MB per worker.
    need_mb = waiters * 20 // 1024 + workers * 90 + clients * 40
    if need_mb > limits.memory_available_mb:
        found.append(f"memory: about {need_mb:,} MB needed, {limits.memory_available_mb:,} MB available")
    return found


def diagnose(
    error_kinds: Counter[str], log: str, held_per_worker: list[int], workers: int, limits: Limits
) -> list[str]:
    """What stopped this run, read from the waiters' errors, the service's log and the
    waiters each worker held when it stopped taking more."""
    text = " ".join(error_kinds) + " " + log
    found = []
    full = [held for held in held_per_worker if held + min(500, limits.open_files // 4) >= limits.open_files]
    if full:
        found.append(
            f"open files: {len(full)} worker(s) stopped at {max(full):,} waiters, near their"
            f" {limits.open_files:,} files (ulimit -Hn); the rest waited in the accept backlog"
        )
    elif "Errno 24" in text or "Too many open files" in text:
        found.append("open files: a process reached its open-file limit (ulimit -Hn)")
    if "Errno 99" in text or "Cannot assign requested address" in text:
        found.append("ports: a source address ran out of ephemeral ports (ip_local_port_range)")
    if "Errno 12" in text or "Cannot allocate memory" in text or len(held_per_worker) < workers:
        found.append(f"memory (or a crash): {len(held_per_worker)} of {workers} workers alive")
    if "too many clients" in text:
        # A waiter reads its order's status when it starts; with no connection to be had,
        # the route answers 503 store unavailable, which looks like a MAX_WAITERS refusal.
        found.append(
            "PostgreSQL connections: the server refused new ones (max_connections, shared by"
            f" {workers} workers' pools): waiters whose first status read got none had 503"
        )
    elif "HTTP 503" in text:
        found.append("MAX_WAITERS: a worker refused waiters over its limit (503)")
    if error_kinds and not found:
        found.append(f"unclassified waiter errors: {dict(error_kinds.most_common(3))}")
    return found


def log_text(service: Service) -> str:
    return service.log_path.read_text(errors="replace") if service.log_path.exists() else ""


class CrowdProcess:
    """One bench.crowd process, spoken to in JSON lines."""

    def __init__(self, index: int, plan: list[Planned], setup: dict[str, Any]) -> None:
        self.index = index
        self.order_ids = {p.order.order_id for p in plan}
        self.setup = {**setup, "plan": [[p.kind, p.order.order_id, p.order.order_number] for p in plan]}
        self.process: asyncio.subprocess.Process | None = None

    async def start(self, log: Path) -> None:
        with log.open("ab") as sink:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bench.crowd",
                cwd=REPO,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=sink,
                preexec_fn=raise_nofile,
                limit=1 << 26,
            )
        await self.ask({"setup": self.setup})

    async def ask(self, command: dict[str, Any]) -> dict[str, Any]:
        assert self.process is not None and self.process.stdin and self.process.stdout
        self.process.stdin.write(json.dumps(command).encode() + b"\n")
        await self.process.stdin.drain()
        line = await self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"load process {self.index} exited ({self.process.returncode})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    async def stop(self) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        try:
            await asyncio.wait_for(self.ask({"stop": True}), 30)
            await asyncio.wait_for(self.process.wait(), 10)
        except (TimeoutError, RuntimeError, OSError):
            self.process.kill()
            await self.process.wait()

    def rss_kb(self) -> int:
        return rss_kb(self.process.pid) if self.process and self.process.returncode is None else 0


def processes(supervisor: int) -> set[int]:
    # With one worker uvicorn serves in its own process; with more, in its children.
    return {supervisor, *children(supervisor)}


async def until_workers(service: Service, redis_url: str, workers: int, timeout: float = 120.0) -> list[int]:
    """The worker pids, once each has its Redis connections (a worker is up when it has)."""
    deadline = time.monotonic() + timeout
    while True:
        up = sorted(processes(service.pid) & set(await redis_clients(redis_url)))
        if len(up) >= workers:
            return up
        if time.monotonic() > deadline:
            # A worker that cannot start (no database connection, say) is restarted by
            # uvicorn's supervisor again and again: its log says why.
            raise RuntimeError(f"{len(up)} of {workers} workers up after {timeout}s:\n{service.log_tail()}")
        await asyncio.sleep(0.2)


async def until_held(redis_url: str, pids: list[int], expected: int, stalled: float = 15.0) -> int:
    """Waiters held over all workers (the order channels their subscribers hold), once
    `expected` are, or once the count has not grown for `stalled` seconds (connections a
    worker cannot accept wait in its backlog: the client thinks them sent)."""
    best, since = -1, time.monotonic()
    while True:
        clients = await redis_clients(redis_url)
        held = sum(clients.get(pid, (0, 0))[1] for pid in pids)
        if held >= expected or time.monotonic() - since > stalled:
            return held
        if held > best:
            best, since = held, time.monotonic()
        await asyncio.sleep(0.5)


async def open_all(crowds: list[CrowdProcess], per_crowd: list[int]) -> tuple[int, Counter[str]]:
    answers = await asyncio.gather(*(c.ask({"open": n}) for c, n in zip(crowds, per_crowd, strict=True)))
    failed: Counter[str] = Counter()
    for answer in answers:
        failed.update(answer["errors"])
    return sum(a["opened"] for a in answers), failed


async def collect(
    crowds: list[CrowdProcess], chosen: list[str], stalled: float = 15.0
) -> tuple[dict[str, float], Counter[str]]:
    """Poll every load process until each chosen order's waiter has heard, or nothing more
    has been heard for `stalled` seconds."""
    best, since = -1, time.monotonic()
    while True:
        heard: dict[str, float] = {}
        failed: Counter[str] = Counter()
        for crowd in crowds:
            answer = await crowd.ask({"report": [o for o in chosen if o in crowd.order_ids]})
            heard.update(answer["heard"])
            failed.update(answer["errors"])
        if len(heard) >= len(chosen) or time.monotonic() - since > stalled:
            return heard, failed
        if len(heard) > best:
            best, since = len(heard), time.monotonic()
        await asyncio.sleep(0.2)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    raise_nofile()
    limits = Limits.here()
    workers = (
        args.workers or int(os.environ.get("WEB_CONCURRENCY") or 0) or math.ceil(args.waiters / PER_WORKER)
    )
    clients = args.clients or max(2, math.ceil(args.waiters / PER_CLIENT))
    foreseen = what_would_stop(args.waiters, workers, clients, limits)
    print(f"  {workers} workers, {clients} load processes, {limits}", flush=True)
    for line in foreseen:
        print(f"  will stop it: {line}", flush=True)
    async with temporary_database() as url:
        return await run(args, url, workers, clients, limits, foreseen)


async def run(
    args: argparse.Namespace, url: str, workers: int, clients: int, limits: Limits, foreseen: list[str]
) -> dict[str, Any]:
    began = time.perf_counter()

    def progress(what: str) -> None:
        print(f"  {time.perf_counter() - began:6.1f} s  {what}", flush=True)

    orders = await seed_orders(url, args.waiters)
    progress(f"{len(orders):,} orders seeded")
    plan = [Planned(kind, order) for kind, order in split_kinds(orders)]
    # Every worker's pool at once must fit the server's max_connections, or a waiter whose
    # first status read finds no connection gets 503 (the 72,349 of 100,000 held before).
    pool = await pool_per_process(url, workers)
    progress(f"DATABASE_POOL_SIZE={pool} per worker")
    env = {
        "WEB_CONCURRENCY": str(workers),
        "WAIT_TIMEOUT_MAX": str(max(28.0, args.hold)),
        "DATABASE_POOL_SIZE": str(pool),
    }
    service = Service(database_url=url, redis_url=args.redis, env=env)
    if args.listeners == "shared":
        service.command_prefix = PLAIN_UVICORN
    await service.start(timeout=120)
    setup = {"port": service.port, "hold": args.hold, "batch": args.batch}
    crowds = [
        CrowdProcess(i, plan[i::clients], {**setup, "source": f"127.0.0.{2 + i}"}) for i in range(clients)
    ]
    failed_run, failed = False, Counter[str]()
    try:
        pids = await until_workers(service, args.redis, workers)
        rss_base = sum(rss_kb(pid) for pid in pids)
        progress(f"{len(pids)} workers up")
        await asyncio.gather(*(c.start(service.data_dir / f"crowd-{c.index}.log") for c in crowds))
        started = time.perf_counter()
        first = [max(1, round(len(c.order_ids) * FIRST_STEP)) for c in crowds]
        opened, _ = await open_all(crowds, first)
        await until_held(args.redis, pids, opened)
        at_first = await redis_clients(args.redis)
        opened, failed = await open_all(crowds, [len(c.order_ids) for c in crowds])
        held = await until_held(args.redis, pids, opened - sum(failed.values()))
        ramp_s = time.perf_counter() - started
        progress(f"{held:,} held of {opened:,} opened, {sum(failed.values()):,} failed")
        await asyncio.sleep(args.settle)
        at_all = await redis_clients(args.redis)
        # A worker gone meanwhile (killed, restarted) counts no memory; diagnose() says so.
        per_worker_rss = {pid: rss_kb(pid) if pid in processes(service.pid) else 0 for pid in pids}
        rss_held = sum(per_worker_rss.values())
        client_rss = sum(c.rss_kb() for c in crowds)

        chosen = pick_both_kinds(plan, min(args.complete, len(plan)))
        sent: dict[str, float] = {}
        try:
            callbacks = await send_callbacks(
                service.port, [p.order for p in chosen], connections=args.connections, sent_at=sent
            )
        except (HttpError, OSError, TimeoutError) as exc:
            # Past what the host holds: say so below rather than end in a traceback.
            callbacks = Tally(failures=[f"callbacks stopped: {type(exc).__name__} {exc}"])
        ids = [p.order.order_id for p in chosen]
        progress(f"{len(chosen):,} callbacks sent")
        heard, failed = await collect(crowds, ids)
        progress(f"{len(heard):,} heard")
        alive = sorted(set(pids) & processes(service.pid))
        held_per_worker = [at_all.get(pid, (0, 0))[1] for pid in alive]
        log_errors = service.log_errors()
        log = log_text(service)
    except BaseException:
        failed_run = True
        raise
    finally:
        await asyncio.gather(*(c.stop() for c in crowds))
        # The service's and load processes' logs say what went wrong: kept when anything did.
        keep = failed_run or bool(sum(failed.values()))
        await service.stop(keep_data=keep)
        progress(f"stopped{f', logs kept in {service.data_dir}' if keep else ''}")
    latencies: dict[str, list[float]] = {SSE: [], WAIT: []}
    for p in chosen:
        if p.order.order_id in heard:
            latencies[p.kind].append(heard[p.order.order_id] - sent[p.order.order_id])
    missing = [o for o in ids if o not in heard]
    return {
        "waiters": args.waiters,
        "workers": workers,
        "listeners": args.listeners,
        "clients": clients,
        "limits": asdict(limits),
        "foreseen": foreseen,
        "held": held,
        "ramp_s": ramp_s,
        "errors": sum(failed.values()) + len(missing) + len(callbacks.failures) + len(log_errors),
        "error_kinds": dict(failed),
        "log_errors": log_errors[:10],
        "callback_failures": callbacks.failures[:10],
        "stopped_by": diagnose(failed, log, held_per_worker, workers, limits),
        "rss_base_kb": rss_base,
        "rss_held_kb": rss_held,
        "kb_per_waiter": (rss_held - rss_base) / max(1, held),
        "client_rss_kb": client_rss,
        "per_worker": [
            {
                "pid": pid,
                "held": at_all.get(pid, (0, 0))[1],
                "redis_connections_first": at_first.get(pid, (0, 0))[0],
                "redis_connections_all": at_all.get(pid, (0, 0))[0],
                "rss_kb": per_worker_rss[pid],
            }
            for pid in pids
        ],
        "completed": len(chosen),
        "delivered": len(chosen) - len(missing),
        "missing": missing[:10],
        "callbacks_per_second": len(chosen) / callbacks.seconds if callbacks.seconds else 0.0,
        "latency_ms": summary_ms(latencies[SSE] + latencies[WAIT]),
        "latency_ms_by_kind": {kind: summary_ms(values) for kind, values in latencies.items()},
    }


def print_report(payload: dict[str, Any]) -> None:
    nan = float("nan")
    held = payload["held"]
    row = [payload["waiters"], held, payload["errors"], payload["workers"], payload["clients"]]
    row += [payload["rss_base_kb"] / 1024, payload["rss_held_kb"] / 1024, payload["kb_per_waiter"]]
    row += [payload["client_rss_kb"] / 1024, payload["ramp_s"]]
    columns = ["waiters", "held", "errors", "workers", "load processes", "workers RSS before MB"]
    columns += ["workers RSS held MB", "KB/waiter", "client RSS MB", "ramp s"]
    title = f"One host: waiters held over all workers, {payload['listeners']} listeners, half SSE, half /wait"
    print(table(title, columns, [row]))
    rows = [
        [
            str(w["pid"]),
            w["held"],
            w["redis_connections_first"],
            w["redis_connections_all"],
            w["rss_kb"] / 1024,
        ]
        for w in payload["per_worker"]
    ]
    print()
    columns = ["worker pid", "held", "Redis conns (first 1%)", "Redis conns (all)", "RSS MB"]
    print(table("Per worker: Redis connections (CLIENT LIST) by waiters held", columns, rows))
    rows = []
    for kind, lat in [("all", payload["latency_ms"]), *payload["latency_ms_by_kind"].items()]:
        rows.append(
            [kind, lat.get("count", 0), lat.get("p50", nan), lat.get("p99", nan), lat.get("max", nan)]
        )
    print()
    title = (
        f"Fan-out: {payload['completed']:,} callbacks on any worker, {payload['delivered']:,} delivered,"
        f" {payload['callbacks_per_second']:.0f}/s"
    )
    print(table(title, ["waiters", "delivered", "p50 ms", "p99 ms", "max ms"], rows))
    answered = payload["delivered"] == payload["completed"] and not payload["error_kinds"]
    print(f"\nevery waiter answered: {'yes' if answered else 'no'}")
    for line in payload["foreseen"]:
        print(f"foreseen limit: {line}")
    for line in payload["stopped_by"]:
        print(f"what stopped it: {line}")
    if not payload["stopped_by"] and not payload["errors"]:
        print("nothing stopped it at this size")


def cli(argv: list[str] | None = None) -> runner.Payload:
    parser = runner.parser("hundred_k", __doc__)
    parser.add_argument("--waiters", type=int, default=100_000, help="waiters held, half SSE, half /wait")
    parser.add_argument("--complete", type=int, default=1000, help="orders paid by callback")
    parser.add_argument(
        "--workers", type=int, default=0, help="WEB_CONCURRENCY (default: env, or 1 per 15,000)"
    )
    parser.add_argument(
        "--clients", type=int, default=0, help="load processes (default: 1 per 15,000, 2 or more)"
    )
    parser.add_argument(
        "--listeners",
        choices=["own", "shared"],
        default="own",
        help="own: the Procfile's command, a listening socket per worker; shared: plain uvicorn",
    )
    parser.add_argument("--connections", type=int, default=4, help="callback sender connections")
    parser.add_argument("--redis", default=REDIS_URL, help="the Redis every worker shares")
    runner.add_holding(parser, hold=120.0, batch_help="waiters opened per step, per load process")
    return runner.cli("hundred_k", parser, main, print_report, argv)


if __name__ == "__main__":
    cli()
