"""Start the service exactly as the Procfile's `web:` line does, in a process of its own.

The benchmark must measure what a platform runs, so the command is read from the Procfile
at run time (a change there is benchmarked without touching this file), run through `sh`
with `PORT` set, and `exec`'d so that the pid we hold is uvicorn's own.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench.http import Connection, HttpError
from bench.metrics import Metrics, parse_metrics
from bench.system import REPO, listens_on, raise_nofile, rss_kb

HOST = "127.0.0.1"
# The checkout whose Procfile and server/ are run: this one, unless BENCH_SERVICE_DIR names
# another (e.g. an export of main, to measure "before" with the same client).
SERVICE_DIR = Path(os.environ.get("BENCH_SERVICE_DIR") or REPO)
# Random each run: the callback URL's secret, which the bench must know to send callbacks.
CALLBACK_TOKEN = "bench-" + os.urandom(16).hex()


def bench_catalogue(data_dir: Path, capacity: int = 10_000_000) -> Path:
    """The demo event with room for every order a benchmark makes (it has 500 seats otherwise)."""
    path = data_dir / "bench-catalogue.json"
    ticket = {
        "slug": "early-bird",
        "name": "Early Bird",
        "price": 300,
        "currency": "KES",
        "capacity": capacity,
    }
    event = {"slug": "demo-fest", "name": "Benchmark Fest", "starts_at": "2026-12-12T16:00:00+03:00"}
    path.write_text(json.dumps({"events": [{**event, "venue": "loopback", "ticket_types": [ticket]}]}))
    return path


def procfile_web_command(procfile: Path = SERVICE_DIR / "Procfile") -> str:
    for line in procfile.read_text().splitlines():
        match = re.match(r"^web:\s*(.+)$", line)
        if match:
            return match.group(1)
    raise RuntimeError(f"no web: line in {procfile}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def service_env(
    *,
    port: int,
    data_dir: Path,
    database_url: str | None,
    redis_url: str | None,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """The environment of a service process: the bench's own, plus what the service reads."""
    env = dict(os.environ)
    # The venv's uvicorn, whichever python runs the bench.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("REDIS_URL", None)
    env.update(
        {
            "PORT": str(port),
            "DATA_DIR": str(data_dir),
            "DATABASE_URL": database_url or f"sqlite+aiosqlite:///{data_dir / 'payments.sqlite3'}",
            "CALLBACK_TOKEN": CALLBACK_TOKEN,
            "PUBLIC_BASE_URL": f"http://{HOST}:{port}",
            "PAYHERO_MODE": "sandbox",
            "LOG_LEVEL": env.get("BENCH_LOG_LEVEL", "INFO"),
            "CATALOGUE_FILE": str(bench_catalogue(data_dir)),
            # No order may expire while a benchmark still waits on it.
            "PAYMENT_EXPIRY": "3600",
            # One client places every order from one address and one phone: 0 turns the
            # STK-push limits off (a real crowd comes from many of each).
            "PUSH_LIMIT_PER_PHONE": "0",
            "PUSH_LIMIT_PER_IP": "0",
            # Every simulated customer is one address and few phones: no unpaid-seat caps either.
            "MAX_UNPAID_SEATS_PER_PHONE": "0",
            "MAX_UNPAID_SEATS_PER_CLIENT": "0",
            # Every bench waiter comes from 127.0.0.1 too: no cap on waiters per address.
            "MAX_WAITERS_PER_CLIENT": "0",
            "MAX_WAITERS_PER_CLIENT_ORDER": "0",
        }
    )
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.update(extra or {})
    return env


async def until_ready(
    process: asyncio.subprocess.Process,
    ready: Callable[[], Awaitable[bool]],
    *,
    name: str,
    timeout: float,
    log_tail: Callable[[], str],
) -> None:
    """Poll `ready` until it says yes; fail with the log's tail if the process dies or is late."""
    deadline = time.monotonic() + timeout
    while True:
        if process.returncode is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{log_tail()}")
        try:
            if await ready():
                return
        except (OSError, HttpError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} not ready after {timeout}s:\n{log_tail()}")
        await asyncio.sleep(0.1)


async def stop_process(process: asyncio.subprocess.Process, timeout: float = 20.0) -> None:
    """SIGTERM, and SIGKILL if it has not exited within `timeout`."""
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), timeout)
        except TimeoutError:
            process.kill()
            await process.wait()


class Service:
    """One service process on a free port, with a data directory of its own."""

    def __init__(
        self,
        *,
        database_url: str | None = None,
        redis_url: str | None = None,
        env: dict[str, str] | None = None,
        data_dir: Path | None = None,
        name: str = "service",
    ) -> None:
        self.name = name
        self.port = free_port()
        self._own_dir = data_dir is None
        self.data_dir = data_dir or Path(tempfile.mkdtemp(prefix="payment-status-bench-"))
        self.env = service_env(
            port=self.port, data_dir=self.data_dir, database_url=database_url, redis_url=redis_url, extra=env
        )
        self.log_path = self.data_dir / f"{name}.log"
        self.process: asyncio.subprocess.Process | None = None
        # Replaces the Procfile command's `python -m server.launcher` (or a bare `uvicorn`):
        # profilers wrap it. None: run it as is.
        self.command_prefix: str | None = None

    @property
    def database_url(self) -> str:
        return self.env["DATABASE_URL"]

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def rss_kb(self) -> int:
        return rss_kb(self.pid)

    async def start(self, timeout: float = 60.0) -> None:
        # A port picked free may be taken before the service binds it: it exits saying so,
        # and starts again on another.
        for _ in range(5):
            begin = self.log_path.stat().st_size if self.log_path.exists() else 0
            if await self._start_once(timeout):
                return
            self._set_aside(begin)
            self._move_to(free_port())
        raise RuntimeError(f"{self.name}: every port picked was taken before it could bind one")

    def _set_aside(self, begin: int) -> None:
        """Moves what a start that lost its port wrote (uvicorn's ERROR "address already in
        use") out of the service's log into one beside it: not an error of the run that
        follows, which `log_errors` would have counted (a flash sale reported 1 error so)."""
        with self.log_path.open("r+b") as log:
            log.seek(begin)
            lost = log.read()
            log.truncate(begin)
        with self.log_path.with_suffix(".port-taken.log").open("ab") as aside:
            aside.write(lost)

    def _move_to(self, port: int) -> None:
        self.env["PORT"] = str(port)
        if self.env.get("PUBLIC_BASE_URL") == f"http://{HOST}:{self.port}":
            self.env["PUBLIC_BASE_URL"] = f"http://{HOST}:{port}"
        self.port = port

    async def _start_once(self, timeout: float) -> bool:
        """Starts the process and waits until it serves; False if its port was taken."""
        command = procfile_web_command()
        if self.command_prefix is not None:
            launcher = "python -m server.launcher" if "python -m server.launcher" in command else "uvicorn"
            command = command.replace(launcher, self.command_prefix, 1)
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                "sh",
                "-c",
                f"exec {command}",
                cwd=SERVICE_DIR,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Inherited through exec: uvicorn may hold 15,000 sockets.
                preexec_fn=raise_nofile,
            )

        async def ready() -> bool:
            # Only this process's answer counts: another server may hold the port meanwhile.
            return (await self.get("/readyz", timeout=5))[0] == 200 and listens_on(self.pid, self.port)

        try:
            await until_ready(self.process, ready, name=self.name, timeout=timeout, log_tail=self.log_tail)
        except RuntimeError:
            if self.process.returncode is not None and "address already in use" in self.log_tail().lower():
                return False
            raise
        return True

    async def get(self, path: str, timeout: float = 30.0) -> tuple[int, bytes]:
        connection = await Connection.open(HOST, self.port)
        try:
            response = await connection.request("GET", path, timeout=timeout)
            return response.status, response.body
        finally:
            connection.close()

    async def metrics(self) -> Metrics:
        status, body = await self.get("/metrics")
        if status != 200:
            raise RuntimeError(f"/metrics answered {status}")
        return parse_metrics(body.decode())

    async def stop(self, *, keep_data: bool = False) -> None:
        if self.process is not None:
            await stop_process(self.process)
        if self._own_dir and not keep_data:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def log_lines(self, containing: str) -> list[str]:
        """Lines of the service log that contain `containing`."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return []
        return [line for line in text.splitlines() if containing in line]

    def log_errors(self) -> list[str]:
        """Lines of the service log at ERROR or worse, or with a traceback."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return []
        return [line for line in text.splitlines() if "ERROR" in line or "Traceback" in line]
