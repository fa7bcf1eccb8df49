"""The service as a platform runs it: the Procfile's web command in a process of its own.

Needed where the test must signal or kill the process (SIGTERM, kill -9) for real.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.system import listening_processes
from tests.backends import free_port
from tests.local_http import local_get
from tests.payhero_fixtures import TOKEN

ROOT = Path(__file__).resolve().parents[1]


def procfile_command() -> str:
    text = (ROOT / "Procfile").read_text()
    match = re.search(r"^web:\s*(.+)$", text, re.MULTILINE)
    assert match, "the Procfile has no web process"
    return match.group(1)


# The service processes these tests start compose e-mails in a thread. The default, a
# composing process, starts a forkserver in each of them (a new interpreter importing the
# composer, ~0.4 s of CPU) before its first e-mail, for tests that are not about composing.
# tests/test_orphans.py tests the process in a service of its own, tests/test_outbox.py in
# the test's; the platform rehearsal (tests/test_platform_rehearsal.py) and the benchmarks
# run the service's defaults. (The services a test runs in its own process keep the
# default: they fork from the test worker's forkserver, already running, so a thread there
# would save little and would take the worker's GIL from the test itself.)
COMPOSE_IN_A_THREAD = {"MAIL_COMPOSE_PROCESSES": "0"}


def sandbox_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'service.sqlite3'}",
        "CALLBACK_TOKEN": TOKEN,
        "SANDBOX_DELAY": "600",
        "LOG_LEVEL": "INFO",
        # Push limits off, as in make_settings: on a shared Redis the counts of one test's
        # phone outlive it and refused the next test's checkout (429).
        "PUSH_LIMIT_PER_PHONE": "0",
        "PUSH_LIMIT_PER_IP": "0",
        **COMPOSE_IN_A_THREAD,
        **extra,
    }


@dataclass
class ServiceProcess:
    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def signal(self, sig: int) -> None:
        # The shell execs uvicorn, so the shell's pid is uvicorn's.
        os.kill(self.process.pid, sig)

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout=timeout)


def start_service(
    env: Mapping[str, str], tmp: Path, *, name: str = "service", port: int | None = None, workers: int = 1
) -> ServiceProcess:
    """The Procfile's web command on `port`, or on a free one (a restart passes the old one),
    once `workers` of its processes listen (`WEB_CONCURRENCY`, where the test needs them all).

    A port picked free may be taken before the service binds it; then it exits saying so,
    and starts again on another. A port given is tried once."""
    for _ in range(1 if port else 5):
        service = _start_on_port(env, tmp, name, port or free_port(), workers)
        if service is not None:
            return service
    raise RuntimeError(f"{name}: every port picked was taken before it could bind one")


def _start_on_port(
    env: Mapping[str, str], tmp: Path, name: str, port: int, workers: int
) -> ServiceProcess | None:
    log_path = tmp / f"{name}-{port}.log"
    full_env = {
        **os.environ,
        "PORT": str(port),
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        **env,
    }
    process = subprocess.Popen(
        ["sh", "-c", f"exec {procfile_command()}"],
        cwd=ROOT,
        env=full_env,
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = log_path.read_text(errors="replace")
            if "address already in use" in log.lower():
                return None
            raise RuntimeError(f"service exited at start:\n{log}")
        try:
            # Only our process's answer counts: another server may hold the port meanwhile.
            healthy = local_get(f"{base_url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            healthy = False
        # Every worker listening, not only the first to answer: a test spreading connections
        # over two workers found all 64 on one while the other was still starting.
        if healthy and listening_processes(process.pid, port) >= workers:
            return ServiceProcess(process, base_url, log_path)
        time.sleep(0.1)
    process.kill()
    process.wait()
    raise RuntimeError(f"service did not start:\n{log_path.read_text(errors='replace')}")


@contextmanager
def running_service(env: Mapping[str, str], tmp: Path, *, name: str = "service") -> Iterator[ServiceProcess]:
    service = start_service(env, tmp, name=name)
    try:
        yield service
    finally:
        if service.process.poll() is None:
            service.signal(signal.SIGKILL)
            service.process.wait(timeout=10)


def _parents() -> dict[int, int]:
    """Every process's parent, from /proc (Linux)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # gone meanwhile
            # The command name may hold spaces and parentheses: the fields start after the last ")".
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def descendants(pid: int) -> list[int]:
    """The processes `pid` started, and theirs, as they are now."""
    children: dict[int, list[int]] = {}
    for child, parent in _parents().items():
        children.setdefault(parent, []).append(child)
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def running(pid: int) -> bool:
    """Whether `pid` still runs (a zombie waiting to be reaped has ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ").strip()
    except OSError:
        return ""
