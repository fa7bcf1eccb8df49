"""Issue 19: a start that cannot work says why in one line per problem, exit 2, no traceback;
a store or Redis not up yet is waited for; `check-config` is the operator's first command."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from server.settings import Settings, SettingsError
from tests.backends import OwnRedis, free_port
from tests.local_http import local_sync_client
from tests.process_harness import ROOT, procfile_command, running_service, sandbox_env
from tests.test_settings import LIVE


def run(command: list[str], env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    full_env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        "PORT": str(free_port()),
        **env,
    }
    return subprocess.run(command, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=timeout)


def web_start(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run(["sh", "-c", f"exec {procfile_command()}"], env)


def command_line(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-m", "server", *args], env)


BAD = {"DATABASE_URL": "garbage", "WAIT_TIMEOUT": "-3", "LOG_FORMAT": "xml"}


@pytest.mark.slow
@pytest.mark.parametrize("start", [web_start, lambda env: command_line(env, "check-config")])
def test_every_bad_variable_is_one_line_and_exit_2(start, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    done = start({**sandbox_env(tmp_path), **BAD})
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 3, done.stderr
    for name in BAD:
        assert sum(line.startswith(f"configuration error: {name}") for line in lines) == 1


@pytest.mark.slow
def test_an_unreachable_postgres_is_named_by_host_and_port_never_the_password(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **sandbox_env(tmp_path),
        "DATABASE_URL": f"postgres://shop:hunter2-secret@127.0.0.1:{port}/shop",
        "STARTUP_WAIT": "1",
    }
    done = web_start(env)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "hunter2" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(f"cannot start: PostgreSQL at 127.0.0.1:{port} did not answer within 1 s")


@pytest.mark.slow
def test_sslmode_require_against_a_server_without_ssl_refuses_to_start(tmp_path: Path) -> None:
    """The machine's PostgreSQL has `ssl = off`: libpq's `require` must not fall back to plain text."""
    env = {**sandbox_env(tmp_path), "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/test?sslmode=require"}
    done = web_start(env)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("cannot start: PostgreSQL at 127.0.0.1:5432 refused the connection")
    assert "SSL" in line


@pytest.mark.parametrize(
    ("name", "url", "option"),
    [
        ("DATABASE_URL", "postgres://u@db/x?sslmod=require", "sslmod"),
        ("DATABASE_URL", "postgres://u@db/x?sslmode=verify-full&application_name=x", "application_name"),
        ("DATABASE_URL", "sqlite+aiosqlite:///x.db?mode=ro", "mode"),
        ("REDIS_URL", "rediss://cache:6380?ssl_cert_reqs=none&socket_timeout=1", "socket_timeout"),
    ],
)
def test_a_url_option_the_service_does_not_understand_is_refused(name: str, url: str, option: str) -> None:
    with pytest.raises(SettingsError, match=f"{name} is not valid: the option {option} is not understood"):
        Settings.from_env({name: url}, dotenv=None)


def test_url_options_with_bad_values_or_missing_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="sslmode must be one of"):
        Settings.from_env({"DATABASE_URL": "postgres://u@db/x?sslmode=sure"}, dotenv=None)
    with pytest.raises(SettingsError, match="sslrootcert: no file"):
        Settings.from_env({"DATABASE_URL": f"postgres://u@db/x?sslrootcert={tmp_path}/none.pem"}, dotenv=None)
    with pytest.raises(SettingsError, match="ssl_cert_reqs must be one of"):
        Settings.from_env({"REDIS_URL": "rediss://cache?ssl_cert_reqs=maybe"}, dotenv=None)
    with pytest.raises(SettingsError, match=r"ssl_\* options need a rediss:// URL"):
        Settings.from_env({"REDIS_URL": "redis://cache?ssl_cert_reqs=none"}, dotenv=None)


@pytest.mark.parametrize(("name", "value"), [("FORWARDED_ALLOW_IPS", "*"), ("CORS_ORIGINS", "*")])
def test_wildcards_the_docs_say_never_are_refused_in_live_mode(name: str, value: str) -> None:
    assert Settings.from_env({name: value}, dotenv=None)  # the sandbox on a laptop may
    with pytest.raises(SettingsError, match=rf"{name}=\* is refused in live mode"):
        Settings.from_env({**LIVE, name: value}, dotenv=None)


@pytest.mark.slow
def test_check_config_prints_the_configuration_masked_and_the_warnings(tmp_path: Path) -> None:
    env = {
        **sandbox_env(tmp_path),
        "DATABASE_URL": "postgres://postgres:db-password-1@127.0.0.1:5432/test",
        "GATE_TOKEN": "gate-token-of-twenty-chars",
        "WEB_CONCURRENCY": "50",
        "DATABASE_POOL_SIZE": "4",
    }
    done = command_line(env, "check-config")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "db-password-1" not in out and "gate-token-of-twenty-chars" not in out
    assert "DATABASE_URL=postgresql+asyncpg://postgres:***@127.0.0.1:5432/test" in out
    assert "GATE_TOKEN=set (hidden)" in out and "WAIT_TIMEOUT=25.0  (default)" in out
    assert "warning: PAYHERO_MODE=sandbox" in out
    assert "warning: WEB_CONCURRENCY=50 x DATABASE_POOL_SIZE=4" in out  # 204 > max_connections
    assert out.strip().endswith("ok: the service would start with this configuration")


@pytest.mark.slow
def test_a_redis_that_never_answers_is_named_and_the_start_goes_on_without_it(tmp_path: Path) -> None:
    """The store is the truth (DESIGN rule 1): without Redis answers come through it, so a Redis
    still down after STARTUP_WAIT is a warning naming it, not a refusal."""
    port = free_port()
    env = {
        **sandbox_env(tmp_path),
        "REDIS_URL": f"redis://:pw-secret-9@127.0.0.1:{port}",
        "STARTUP_WAIT": "1",
    }
    done = command_line(env, "check-config")
    assert done.returncode == 0, done.stderr
    assert f"warning: Redis at 127.0.0.1:{port} did not answer within 1 s (STARTUP_WAIT)" in done.stdout
    assert "pw-secret-9" not in done.stderr + done.stdout


@pytest.mark.slow
def test_a_redis_that_comes_up_late_is_waited_for(tmp_path: Path) -> None:
    """Platforms start add-ons in any order: the first attempt finds nothing, a later one Redis."""
    redis = OwnRedis(tmp_path)
    knocked = threading.Event()
    # The port answers first with a connection closed at once (a Redis still booting), so
    # the test knows an attempt was made before Redis itself is started.
    gate = socket.create_server(("127.0.0.1", redis.port))

    def first_knock() -> None:
        connection, _ = gate.accept()
        connection.close()
        gate.close()
        knocked.set()

    threading.Thread(target=first_knock, daemon=True).start()
    env = {**sandbox_env(tmp_path), "REDIS_URL": redis.url, "STARTUP_WAIT": "30"}
    full_env = {**os.environ, **env}
    checking = subprocess.Popen(
        [sys.executable, "-m", "server", "check-config"],
        cwd=ROOT,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert knocked.wait(30)
        redis.start()
        out, err = checking.communicate(timeout=60)
        assert checking.returncode == 0, err
        assert "ok: the service would start" in out
    finally:
        checking.kill()
        redis.stop()


@pytest.mark.slow
def test_on_sqlite_without_redis_one_worker_runs_whatever_web_concurrency_says(tmp_path: Path) -> None:
    """No broker would carry a payment between workers: their waiters would hear of it only
    from the safety net, seconds later. So one worker, and the log says why."""
    with running_service({**sandbox_env(tmp_path), "WEB_CONCURRENCY": "3"}, tmp_path) as service:
        answered = set()
        for _ in range(12):  # fresh connections: with several workers the kernel spreads them
            with local_sync_client(service.base_url, timeout=10) as http:
                answered.add(http.get("/readyz").json()["process"])
        assert answered == {service.process.pid}
        assert "WEB_CONCURRENCY=3 ignored: one worker" in service.log()
