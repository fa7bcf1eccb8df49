"""Under `WEB_CONCURRENCY`, connections spread over the workers, and SIGTERM drains every one.

Real processes: the Procfile's command with three uvicorn workers. Which process holds which
socket is read from /proc (Linux): each socket's inode in /proc/net/tcp against the
descriptors in /proc/<pid>/fd.
"""

from __future__ import annotations

import asyncio
import re
import signal
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from tests.helpers import SSEReader
from tests.local_http import local_client
from tests.payhero_fixtures import ORDER
from tests.process_harness import ServiceProcess, running_service, sandbox_env
from tests.test_orphans import wait_for, workers_of

WORKERS = 3
LISTEN, ESTABLISHED = "0A", "01"


def sockets_on_port(port: int) -> dict[int, str]:
    """Socket inode -> TCP state, for the sockets whose local port is `port`."""
    found = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], int(fields[9])
            if int(local.rsplit(":", 1)[1], 16) == port and inode:
                found[inode] = state
    return found


def socket_inodes(pid: int) -> set[int]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().name
        except OSError:
            continue  # closed meanwhile
        if match := re.fullmatch(r"socket:\[(\d+)\]", target):
            inodes.add(int(match.group(1)))
    return inodes


def held_by(pid: int, port: int, state: str) -> set[int]:
    on_port = sockets_on_port(port)
    return {inode for inode in socket_inodes(pid) if on_port.get(inode) == state}


@contextmanager
def three_workers(tmp_path: Path, redis_url: str) -> Iterator[tuple[ServiceProcess, list[int], int]]:
    # With Redis: on SQLite without it the launcher runs one worker (no broker between them).
    env = sandbox_env(
        tmp_path,
        WEB_CONCURRENCY=str(WORKERS),
        MAX_WAITERS_PER_CLIENT="0",
        MAX_WAITERS_PER_CLIENT_ORDER="0",
        REDIS_URL=redis_url,
    )
    with running_service(env, tmp_path) as service:
        wait_for(lambda: len(workers_of(service)) == WORKERS, 30, f"{WORKERS} uvicorn workers")
        port = urlsplit(service.base_url).port
        assert port is not None
        workers = workers_of(service)
        # Started is not yet listening: each worker binds its own socket once it has started.
        wait_for(lambda: all(held_by(w, port, LISTEN) for w in workers), 30, "every worker listening")
        yield service, workers, port


def test_each_worker_listens_on_its_own_socket_and_connections_spread(tmp_path: Path, redis_url: str) -> None:
    with three_workers(tmp_path, redis_url) as (service, workers, port):
        listening = [held_by(worker, port, LISTEN) for worker in workers]
        assert all(len(sockets) == 1 for sockets in listening), listening
        assert len(set().union(*listening)) == WORKERS  # three sockets, not one shared
        # The supervisor holds the address but does not listen: it accepts nothing itself.
        assert not held_by(service.process.pid, port, LISTEN)

        # 60 connections, each answered, all held open: the kernel hashed each to a worker.
        connections = []
        try:
            for _ in range(60):
                connection = socket.create_connection(("127.0.0.1", port), timeout=10)
                connections.append(connection)
                connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
                assert connection.recv(4096).startswith(b"HTTP/1.1 200")
            per_worker = [len(held_by(worker, port, ESTABLISHED)) for worker in workers]
        finally:
            for connection in connections:
                connection.close()
    assert sum(per_worker) == 60
    # Shared, one worker could take them all; hashed, each of three misses all 60 with
    # probability (2/3)**60, about 3e-11.
    assert all(count > 0 for count in per_worker), per_worker


STREAMS = 60  # each of three workers misses all of them with probability (2/3)**60


async def test_sigterm_ends_the_streams_every_worker_holds(tmp_path: Path, redis_url: str) -> None:
    with three_workers(tmp_path, redis_url) as (service, workers, port):
        limits = httpx.Limits(max_connections=STREAMS + 10, max_keepalive_connections=STREAMS + 10)
        async with local_client(service.base_url, timeout=30, limits=limits) as http:
            order = (await http.post("/api/orders", json=ORDER)).json()
            held = asyncio.Event()
            first_events = 0

            async def stream() -> int:
                nonlocal first_events
                events = 0
                async with http.stream("GET", order["events_url"]) as response:
                    sse = SSEReader(response)
                    while await sse.next_event() is not None:
                        events += 1
                        first_events += events == 1
                        if first_events == STREAMS:
                            held.set()
                return events

            streams = [asyncio.create_task(stream()) for _ in range(STREAMS)]
            # A stream's first event (the current status) is sent once its worker holds it.
            await asyncio.wait_for(held.wait(), 20)
            per_worker = [len(held_by(worker, port, ESTABLISHED)) for worker in workers]
            service.signal(signal.SIGTERM)
            streamed = await asyncio.wait_for(asyncio.gather(*streams), 15)
            exit_code = await asyncio.to_thread(service.wait, 20)
    assert all(count > 0 for count in per_worker), per_worker
    assert streamed == [1] * STREAMS  # the current status, then a clean end of stream
    assert exit_code in (0, -signal.SIGTERM)
    drained = [int(n) for n in re.findall(r"draining: ended (\d+) wait", service.log())]
    assert sum(drained) == STREAMS
    assert len([n for n in drained if n]) == WORKERS, drained  # each worker ended its own
