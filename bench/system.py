"""What the benchmarks need from the operating system: file limits, memory, the machine."""

from __future__ import annotations

import os
import platform
import resource
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def raise_nofile() -> int:
    """Raise this process's open-file limit to the hard limit; 15,000 sockets need it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def rss_kb(pid: int) -> int:
    """Resident memory of a process in KiB, as the kernel counts it (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (uvicorn's workers, nginx's worker)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


def listens_on(pid: int, port: int) -> bool:
    """Whether process `pid`, or a worker it started, holds a socket listening on TCP `port`
    (Linux, from /proc). Under `WEB_CONCURRENCY` with `python -m server.launcher` only the
    workers listen, each on a socket of its own; the supervisor's is bound, not listening.

    A port from free_port() is free only when it is picked: under load another test's
    server can bind it first, and its /healthz then answers for ours (issue 23: a restarted
    service "lost" an order the other server had never seen).
    """
    return listening_processes(pid, port) > 0


def listening_processes(pid: int, port: int) -> int:
    """How many of process `pid` and the workers it started hold a socket listening on TCP
    `port`. Under `WEB_CONCURRENCY` the service serves on all its workers only once this is
    their number: the first answers /healthz while the others may still be importing."""
    sockets = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            # local address "ADDR:PORT" in hex, state 0A is LISTEN, then the socket's inode.
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                sockets.add(f"socket:[{fields[9]}]")
    return sum(_holds(process, sockets) for process in (pid, *children(pid)))


def _holds(pid: int, sockets: set[str]) -> bool:
    fds = Path(f"/proc/{pid}/fd")
    try:
        names = os.listdir(fds)
    except OSError:
        return False
    for name in names:
        try:
            if os.readlink(fds / name) in sockets:
                return True
        except OSError:
            continue  # closed meanwhile
    return False


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def pin(pid: int, core: int) -> bool:
    """Keep process `pid` (0: this one) on one core, if the machine has more than one.

    The reference runs put the service on one core and the load client on the other, so a
    figure does not depend on where the scheduler happened to put them. Children started
    later (the e-mail composing process) inherit the service's core.
    """
    cores = os.cpu_count() or 1
    if cores < 2 or core >= cores:
        return False
    os.sched_setaffinity(pid, {core})
    return True


def load_average() -> tuple[float, float, float]:
    return os.getloadavg()


def machine() -> dict[str, Any]:
    """The facts a reader needs to compare a figure with their own machine."""
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    versions: dict[str, str | None] = {}
    for package in ["starlette", "uvicorn", "uvloop", "httptools", "asyncpg", "SQLAlchemy"]:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        "commit": git_commit(),
        "packages": versions,
    }


def git_commit() -> str:
    try:
        git = ["git", "-C", str(REPO)]
        out = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        )
        dirty = subprocess.run([*git, "status", "--porcelain", "server"], capture_output=True, text=True)
        # "+dirty": the service code measured is not exactly the commit named.
        return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
