"""Killed with SIGKILL, the service leaves nothing behind: its e-mail composing process, that
process's forkserver and the resource tracker end within 2 s, whatever killed the service.
And while it runs, the composing process never takes the CPU from it: it runs at a lower
priority.

Real processes: the Procfile's command, alone or as one of two uvicorn workers, made to
compose e-mails (a paid sandbox order), then SIGKILLed by its pid alone, not its group.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from server.mail.composer_process import COMPOSING_NICENESS
from tests.local_http import local_post
from tests.payhero_fixtures import ORDER
from tests.process_harness import (
    ServiceProcess,
    command_line,
    descendants,
    running,
    sandbox_env,
    start_service,
)

# The bound: helpers end within 2 s of their parent's death.
BOUND = 2.0
EMAILS = 3  # welcome, tickets, receipt


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g}s: {what}")
        time.sleep(0.01)


@contextmanager
def service(tmp_path: Path, **extra: str) -> Iterator[ServiceProcess]:
    env = sandbox_env(tmp_path, SANDBOX_DELAY="0.05", MAIL_COMPOSE_PROCESSES="1", **extra)
    started = start_service(env, tmp_path)
    seen = set(descendants(started.process.pid))
    try:
        yield started
    finally:
        seen |= set(descendants(started.process.pid))
        if started.process.poll() is None:
            # A clean stop: uvicorn stops its workers, and they their composing processes.
            started.signal(signal.SIGTERM)
            started.process.wait(timeout=20)
        for pid in seen:  # nothing this test started outlives it, whatever failed above
            if running(pid):
                os.kill(pid, signal.SIGKILL)


def compose_emails(service: ServiceProcess, tmp_path: Path) -> None:
    """A paid sandbox order: its three e-mails are composed (in the composing process)."""
    response = local_post(f"{service.base_url}/api/orders", json=ORDER, timeout=10)
    assert response.status_code == 201, response.text
    outbox = tmp_path / "data" / "outbox"
    wait_for(lambda: len(list(outbox.glob("*.eml"))) == EMAILS, 30, "the order's e-mails written")


def assert_all_end_after_sigkill(pid: int, *, helpers: tuple[str, ...]) -> None:
    found = descendants(pid)
    commands = [command_line(child) for child in found]
    for helper in helpers:
        assert any(helper in command for command in commands), (helper, commands)
    os.kill(pid, signal.SIGKILL)  # this pid alone, not its process group
    killed = time.monotonic()
    wait_for(
        lambda: not any(running(child) for child in found),
        BOUND,
        f"helpers left: {[command_line(child) for child in found if running(child)]}",
    )
    assert time.monotonic() - killed < BOUND


# The composing process is forked by the forkserver, so its command line is the forkserver's.
FORKSERVER = "multiprocessing.forkserver"
TRACKER = "multiprocessing.resource_tracker"


def test_sigkill_of_the_service_leaves_no_helper_behind(tmp_path: Path) -> None:
    with service(tmp_path) as main:
        compose_emails(main, tmp_path)
        composing = [child for child in descendants(main.process.pid) if FORKSERVER in command_line(child)]
        assert len(composing) == 2  # the forkserver and the composing process it forked
        assert_all_end_after_sigkill(main.process.pid, helpers=(FORKSERVER, TRACKER))
        main.process.wait(timeout=10)


def test_e_mails_are_composed_at_a_lower_cpu_priority_than_the_service(tmp_path: Path) -> None:
    """A webhook's answer and a waiter's screen go before an e-mail: on a busy core the
    scheduler gives the composing process what the service leaves."""
    with service(tmp_path) as main:
        compose_emails(main, tmp_path)
        service_niceness = os.getpriority(os.PRIO_PROCESS, main.process.pid)
        forked = [child for child in descendants(main.process.pid) if FORKSERVER in command_line(child)]
        # The forkserver keeps the service's priority; the composing process it forked does not.
        assert sorted(os.getpriority(os.PRIO_PROCESS, pid) for pid in forked) == [
            service_niceness,
            min(service_niceness + COMPOSING_NICENESS, 19),
        ]


def test_sigkill_of_one_worker_then_of_the_supervisor_leaves_nothing_behind(
    tmp_path: Path, redis_url: str
) -> None:
    """Under `--workers 2`: one worker killed takes its helpers with it; the supervisor
    killed next takes every worker left (uvicorn leaves them running) and theirs. With Redis:
    on SQLite without it the launcher runs one worker."""
    with service(tmp_path, WEB_CONCURRENCY="2", REDIS_URL=redis_url) as supervisor:
        wait_for(lambda: len(workers_of(supervisor)) == 2, 30, "two uvicorn workers")
        compose_emails(supervisor, tmp_path)
        composing = [
            worker
            for worker in workers_of(supervisor)
            if any(FORKSERVER in command_line(child) for child in descendants(worker))
        ]
        assert composing, "no worker composed the e-mails"
        # A worker shares its supervisor's resource tracker, which ends with the supervisor.
        assert_all_end_after_sigkill(composing[0], helpers=(FORKSERVER,))
        assert supervisor.process.poll() is None  # the supervisor and the other worker live on

        # uvicorn replaces the killed worker; once the new one has started, the supervisor goes.
        started = "Application startup complete."
        # Up to the Procfile's --timeout-worker-healthcheck (15 s) to notice a worker killed
        # while a ping was out, then its start on a loaded machine.
        wait_for(lambda: supervisor.log().count(started) == 3, 60, "the replacement worker started")
        assert_all_end_after_sigkill(supervisor.process.pid, helpers=("multiprocessing.spawn", TRACKER))
        supervisor.process.wait(timeout=10)


def workers_of(supervisor: ServiceProcess) -> list[int]:
    pid = supervisor.process.pid
    return [child for child in descendants(pid) if "multiprocessing.spawn" in command_line(child)]
