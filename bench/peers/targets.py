"""The servers bench.compare puts side by side, behind one small interface.

Each serves `/api/orders/{id}/events` (SSE, `event: status`) and `/api/orders/{id}/wait`
(long poll), so one load client (bench.waiters) drives all of them; each counts the
waiters it holds, reports its resident memory and takes a bare publish: a message for
one order, acknowledged by the server or broker, and nothing else. This service takes
its bare publish on Redis, as another process's commit reaches it; it also has the
callback route, the whole path a payment takes (bench.delivery).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from abc import ABC, abstractmethod
from pathlib import Path

import redis.asyncio as aioredis

from bench.http import Connection, HttpError
from bench.metrics import WATCHES
from bench.orders import Order
from bench.seed import new_orders, seed_orders
from bench.service import HOST, Service, free_port, stop_process, until_ready
from bench.system import REPO, children, raise_nofile, rss_kb
from server.broker.base import status_channel
from server.clock import iso_from_ms, now_ms
from server.status.document import DOCUMENT_FIELDS

PAID = "completed"


class Target(ABC):
    name: str
    port: int
    # Besides the bare publish, this service is driven through its callback route too.
    has_callbacks = False

    @abstractmethod
    async def prepare(self, count: int) -> list[Order]:
        """`count` orders the waiters can wait on (before `start`)."""

    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    async def stop(self) -> None: ...

    @abstractmethod
    def pids(self) -> list[int]:
        """The server's processes (to pin them to a core)."""

    @abstractmethod
    def rss_kb(self) -> int:
        """Resident memory of the processes that hold waiters, in KiB."""

    @abstractmethod
    async def held(self) -> float:
        """Waiters the server holds now, by its own count."""

    @abstractmethod
    async def publish(self, order: Order) -> None:
        """Announce that `order` is paid; returns once the server or broker acknowledged it."""

    def log_errors(self) -> list[str]:
        return []


class ThisService(Target):
    """This service, one process as the Procfile starts it, on SQLite and Redis."""

    name = "this service"
    has_callbacks = True

    def __init__(self, redis_url: str, *, hold: float) -> None:
        self.redis_url = redis_url
        self.service = Service(redis_url=redis_url, env={"WAIT_TIMEOUT_MAX": str(max(28.0, hold))})
        self.port = self.service.port
        self._redis: aioredis.Redis | None = None
        self._numbers: dict[str, str] = {}

    async def prepare(self, count: int) -> list[Order]:
        orders = await seed_orders(self.service.database_url, count)
        self._numbers = {o.order_id: o.order_number for o in orders}
        return orders

    async def start(self) -> None:
        await self.service.start()
        self._redis = aioredis.from_url(self.redis_url)

    async def stop(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
        await self.service.stop()

    def pids(self) -> list[int]:
        return [self.service.pid, *children(self.service.pid)]

    def rss_kb(self) -> int:
        # uvicorn's process only, as bench.idle_waiters counts: the e-mail composing
        # process holds no waiter.
        return self.service.rss_kb()

    async def held(self) -> float:
        return (await self.service.metrics())[WATCHES]

    async def publish(self, order: Order) -> None:
        # What the service itself publishes after a commit, read by its own subscriber.
        assert self._redis is not None
        document = {
            "order_id": order.order_id,
            "order_number": order.order_number,
            "payment_status": PAID,
            "amount": 300,
            "currency": "KES",
            "version": order.version + 1,
            "updated_at": iso_from_ms(now_ms()),
            "result_code": 0,
            "result_desc": "The service request is processed successfully.",
            "receipt_number": "SBENCH0001",
            "tickets": [],
            "event": None,
            "prompt_expires_at": None,
            "pushes": 1,
        }
        # The hub drops a message that is not a whole status document: say so here, not as
        # a run that delivers nothing.
        assert set(DOCUMENT_FIELDS) <= document.keys(), set(DOCUMENT_FIELDS) - document.keys()
        await self._redis.publish(status_channel(order.order_id), json.dumps(document, separators=(",", ":")))

    def log_errors(self) -> list[str]:
        return self.service.log_errors()


class PeerProcess(Target):
    """A peer server in a process of its own, published to over HTTP on a keep-alive connection."""

    ready_path = "/readyz"

    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.data_dir = data_dir
        self.log_path = data_dir / f"{self.name.replace(' ', '-')}.log"
        self.process: asyncio.subprocess.Process | None = None
        self._publisher: Connection | None = None

    @abstractmethod
    def command(self) -> list[str]: ...

    def env(self) -> dict[str, str] | None:
        return None

    async def prepare(self, count: int) -> list[Order]:
        return new_orders(count)

    async def start(self, timeout: float = 30.0) -> None:
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                *self.command(),
                cwd=REPO,
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=raise_nofile,
            )

        async def ready() -> bool:
            return (await self.get(self.ready_path))[0] == 200

        await until_ready(self.process, ready, name=self.name, timeout=timeout, log_tail=self._log_tail)
        self._publisher = await Connection.open(HOST, self.port)

    async def stop(self) -> None:
        if self._publisher is not None:
            self._publisher.close()
        if self.process is not None:
            await stop_process(self.process)

    def pids(self) -> list[int]:
        assert self.process is not None
        return [self.process.pid, *children(self.process.pid)]

    def rss_kb(self) -> int:
        return sum(rss_kb(pid) for pid in self.pids())

    async def get(self, path: str) -> tuple[int, bytes]:
        connection = await Connection.open(HOST, self.port)
        try:
            response = await connection.request("GET", path, timeout=10)
            return response.status, response.body
        finally:
            connection.close()

    async def publish(self, order: Order) -> None:
        assert self._publisher is not None
        body = json.dumps({"order_id": order.order_id, "payment_status": PAID, "version": order.version + 1})
        path = f"/api/orders/{order.order_id}/publish"
        headers = {"Content-Type": "application/json"}
        response = await self._publisher.request("POST", path, body=body.encode(), headers=headers)
        if response.closing:
            # nginx ends a keep-alive connection after `keepalive_requests` (1,000) requests:
            # the 1,001st publish on it used to fail, and with it the rest of --flood. As a
            # browser does, the next publish goes on a new connection.
            self._publisher = await Connection.open(HOST, self.port)
        if not 200 <= response.status < 300:
            raise HttpError(f"{self.name} publish answered {response.status}")

    def log_errors(self) -> list[str]:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return [line for line in text.splitlines() if "ERROR" in line or "Traceback" in line]

    def _log_tail(self) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-30:])


class NaivePeer(PeerProcess):
    """bench/peers/naive.py under uvicorn, with the Procfile's loop and parser."""

    name = "naive peer"

    def __init__(self, data_dir: Path, redis_url: str) -> None:
        super().__init__(data_dir)
        self.redis_url = redis_url

    def command(self) -> list[str]:
        # A held /wait keeps a graceful shutdown waiting for its whole hold; the bench does
        # not measure shutdowns, so the peer gets one second to end.
        uvicorn = [sys.executable, "-m", "uvicorn", "bench.peers.naive:app", "--no-access-log"]
        uvicorn += ["--timeout-graceful-shutdown", "1"]
        return [*uvicorn, "--host", HOST, "--port", str(self.port), "--loop", "uvloop", "--http", "httptools"]

    def env(self) -> dict[str, str]:
        return {**os.environ, "REDIS_URL": self.redis_url}

    async def held(self) -> float:
        status, body = await self.get("/stats")
        if status != 200:
            raise HttpError(f"/stats answered {status}")
        return float(json.loads(body)["held"])
