"""Real Redis and PostgreSQL for the tests, isolated per run, and a Redis server of our own.

A backend that cannot be reached fails the run (never a silent skip), unless the developer
opts out with ALLOW_SKIP_BACKENDS=1, in which case the skip names what is missing.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def missing(what: str, detail: str) -> None:
    message = f"{what} is not reachable ({detail}); start it or set its TEST_* URL"
    if os.environ.get("ALLOW_SKIP_BACKENDS") == "1":
        pytest.skip(message)
    pytest.fail(message, pytrace=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def check_redis(url: str = REDIS_URL) -> None:
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        missing("Redis", f"{url}: {exc}")


async def _create_database(admin_url: str, name: str, *, template: str | None = None) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url, timeout=5)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    finally:
        await conn.close()


async def _drop_database(admin_url: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url, timeout=5)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


# The most PostgreSQL pools one test holds at once: a benchmark's two service workers (or two
# services), and the test's own in-process services or seeding connections beside them.
POOLS_PER_TEST = 3
# Connections left for what opens one outside any pool: the fixtures' CREATE/DROP DATABASE,
# a benchmark's seeding, psql by hand.
SPARE_CONNECTIONS = 8


async def _connections_left(admin_url: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(admin_url, timeout=5)
    try:
        allowed = int(await conn.fetchval("SHOW max_connections"))
        reserved = int(await conn.fetchval("SHOW superuser_reserved_connections"))
        in_use = int(
            await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'")
        )
    finally:
        await conn.close()
    return allowed - reserved - in_use


def pool_budget(admin_url: str, workers: int) -> int:
    """`DATABASE_POOL_SIZE` for every service process a test run starts on PostgreSQL.

    The suite's test workers run at once, each test with up to POOLS_PER_TEST pools; the
    service's default of 20 each is past what `max_connections` (100 by default) holds, and
    a refused connection is a 503 to a waiter (issue 23). So the connections the server has
    left when the run starts are split between every pool the run can hold at once, capped
    at the service's default and never under 2.
    """
    left = run_sync(asyncio.wait_for(_connections_left(admin_url), 10)) - SPARE_CONNECTIONS
    return max(2, min(20, left // (max(1, workers) * POOLS_PER_TEST)))


def run_sync(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine to completion from sync code, even inside a running event loop."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _migrate(url: str) -> None:
    from server.store.database import migrate, open_database

    database = open_database(url)
    await database.connect()
    try:
        await migrate(database)
    finally:
        await database.disconnect()


async def _wipe(url: str, shape: str, tables: tuple[str, ...], sequences: tuple[str, ...]) -> bool:
    """Empties a test's database back to the migrated template, or says it cannot.

    `False` when the test left it different from the template (its schema: tables, columns,
    indexes, constraints, the migrations recorded) or still in use: it is dropped instead.
    """
    import asyncpg

    conn = await asyncpg.connect(url, timeout=5)
    try:
        if await _fingerprint(conn) != shape:
            return False
        # A process of the test still connected (a server being killed) could write after
        # the wipe: give it a moment to go, else drop the database with FORCE.
        for _ in range(20):
            others = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            if not others:
                break
            await asyncio.sleep(0.1)
        else:
            return False
        async with conn.transaction():
            await conn.execute("SET LOCAL lock_timeout = '1s'")
            # Superuser on a throw-away server: skip the foreign-key triggers, so the order
            # of the deletes does not matter. DELETE, not TRUNCATE: a few rows each, and
            # TRUNCATE makes new files per table (10x slower here).
            await conn.execute("SET LOCAL session_replication_role = replica")
            for table in tables:
                await conn.execute(f'DELETE FROM "{table}"')
            for sequence in sequences:
                await conn.execute("SELECT setval($1::regclass, 1, false)", sequence)
        return True
    except (TimeoutError, asyncpg.PostgresError, OSError):
        return False
    finally:
        await conn.close()


# Everything a test could change about the schema, as one text to compare.
_FINGERPRINT_SQL = [
    "SELECT table_name, column_name, data_type, is_nullable, column_default"
    " FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1, 2",
    "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1",
    "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
    " WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2",
    "SELECT sequence_name FROM information_schema.sequences WHERE sequence_schema = 'public' ORDER BY 1",
    "SELECT tgrelid::regclass::text, tgname FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1, 2",
    "SELECT version FROM schema_version ORDER BY version",
]


async def _fingerprint(conn: Any) -> str:
    return repr([[tuple(row) for row in await conn.fetch(sql)] for sql in _FINGERPRINT_SQL])


async def _shape(url: str) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """The template's fingerprint, the tables a test fills and the sequences to set back."""
    import asyncpg

    conn = await asyncpg.connect(url, timeout=5)
    try:
        tables = tuple(
            row[0]
            for row in await conn.fetch(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
                " AND table_name <> 'schema_version' ORDER BY 1"
            )
        )
        sequences = tuple(
            row[0]
            for row in await conn.fetch(
                "SELECT sequence_name FROM information_schema.sequences WHERE sequence_schema = 'public'"
            )
        )
        return await _fingerprint(conn), tables, sequences
    finally:
        await conn.close()


class PostgresDatabases:
    """One database per test that asks, on the shared server; emptied and handed on after.

    Each is a copy of a template migrated once per test session (`CREATE DATABASE …
    TEMPLATE`), so a test starts on the current schema without running the migrations
    again; `fresh=True` gives an empty database for tests of the migrations themselves.
    A test's databases come back with `release` when it ends: emptied (the template's
    tables, no rows, sequences from 1) they go to the next test of this worker, because
    PostgreSQL's `DROP DATABASE` waits for a checkpoint (1-4 s each here, 80 s per worker
    when every test's database was dropped at the end). One left different from the template
    or still in use is dropped instead.
    """

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.created: list[str] = []
        self.spare: list[str] = []
        self.made = 0  # names are never reused, even after a drop
        self.prefix = f"ps_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.template: str | None = None
        self.template_shape: tuple[str, tuple[str, ...], tuple[str, ...]] | None = None

    def check(self) -> None:
        try:
            run_sync(asyncio.wait_for(_drop_database(self.admin_url, self.prefix + "_probe"), 10))
        except Exception as exc:
            missing("PostgreSQL", f"{self.admin_url}: {exc}")

    def url_of(self, name: str) -> str:
        return f"{self.admin_url.rsplit('/', 1)[0]}/{name}"

    def new_url(self, *, fresh: bool = False) -> str:
        if not fresh and self.spare:
            return self.url_of(self.spare.pop())
        template = None if fresh else self._migrated_template()
        self.made += 1
        name = f"{self.prefix}_{self.made}"
        run_sync(_create_database(self.admin_url, name, template=template))
        self.created.append(name)
        return self.url_of(name)

    def release(self, url: str) -> None:
        """Hands a test's database on to the next test, emptied, or drops it."""
        name = url.rsplit("/", 1)[1]
        if name not in self.created or self.template_shape is None or name == self.template:
            return
        if run_sync(asyncio.wait_for(_wipe(url, *self.template_shape), 30)):
            self.spare.append(name)
        else:
            run_sync(_drop_database(self.admin_url, name))
            self.created.remove(name)

    def _migrated_template(self) -> str:
        if self.template is None:
            name = f"{self.prefix}_template"
            run_sync(_create_database(self.admin_url, name))
            self.created.append(name)
            run_sync(_migrate(self.url_of(name)))
            self.template_shape = run_sync(_shape(self.url_of(name)))
            self.template = name
        return self.template

    def drop_all(self) -> None:
        for name in reversed(self.created):
            run_sync(_drop_database(self.admin_url, name))


class OwnRedis:
    """A redis-server on a port of our own, so a test can stop and restart it."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.dir = tmp
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            missing("redis-server", "not installed")
        args = [
            str(binary),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        self.process = subprocess.Popen(
            args, cwd=self.dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"own redis-server did not start on port {self.port}")

    def pause(self) -> None:
        """SIGSTOP: Redis keeps its connections and answers nothing (a hung host)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None:
            self.resume()  # a paused server is woken first, so it dies as a running one does
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


def port_in(slot_map: list[tuple[int, int, int]], slot: int) -> int:
    for start, end, port in slot_map:
        if start <= slot <= end:
            return port
    raise LookupError(f"slot {slot} is not served")


class OwnRedisCluster:
    """Three redis-server masters on free ports joined into a Redis Cluster (no replicas).

    A node's cluster bus listens on its port + 10000, so both must be free. Each node keeps
    its nodes.conf in a directory of its own, so a killed master restarted on its port comes
    back as the same node, serving the same slots.
    """

    def __init__(self, tmp: Path, masters: int = 3) -> None:
        self.dir = tmp
        self.ports = _cluster_ports(masters)
        self.processes: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def start(self) -> None:
        for port in self.ports:
            self.start_node(port)
        cli = shutil.which("redis-cli")
        if cli is None:
            missing("redis-cli", "not installed")
        nodes = [f"127.0.0.1:{port}" for port in self.ports]
        subprocess.run(
            [str(cli), "--cluster", "create", *nodes, "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=30,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if all(self._info(port).get("cluster_state") == "ok" for port in self.ports):
                return
            time.sleep(0.05)
        raise RuntimeError("redis cluster did not reach cluster_state:ok")

    def _info(self, port: int) -> dict[str, str]:
        import redis

        try:
            text = redis.Redis(port=port, socket_timeout=1).execute_command("CLUSTER", "INFO")
        except redis.RedisError:
            return {}
        raw = text.decode() if isinstance(text, bytes) else str(text)
        return dict(line.split(":", 1) for line in raw.split() if ":" in line)

    def start_node(self, port: int) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            missing("redis-server", "not installed")
        node_dir = self.dir / str(port)
        node_dir.mkdir(parents=True, exist_ok=True)
        args = [
            str(binary),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            # Slots of a stopped master (no replica here) stay down; the others serve theirs.
            "--cluster-require-full-coverage",
            "no",
            "--cluster-node-timeout",
            "2000",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        self.processes[port] = subprocess.Popen(
            args, cwd=node_dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"redis cluster node did not start on port {port}")

    def slot_map(self) -> list[tuple[int, int, int]]:
        """(first slot, last slot, master's port) for every range, as the cluster says now.

        A blocking call: read it once and look slots up in it (`port_in`), never once per
        key inside a test whose service shares the event loop.
        """
        import redis

        # Asked of a master that is running: a test may have killed any of them.
        with redis.Redis(port=next(iter(self.processes))) as admin:
            ranges = admin.execute_command("CLUSTER", "SLOTS")
        return [(int(start), int(end), int(master[1])) for start, end, master, *_ in ranges]

    def port_of_slot(self, slot: int) -> int:
        return port_in(self.slot_map(), slot)

    def kill(self, port: int) -> None:
        process = self.processes.pop(port)
        process.send_signal(signal.SIGCONT)
        process.kill()
        process.wait(timeout=10)

    def restart(self, port: int) -> None:
        """The killed master back on its port, as the same node (its nodes.conf)."""
        self.start_node(port)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self._info(port).get("cluster_state") == "ok":
                return
            time.sleep(0.05)
        raise RuntimeError(f"redis cluster node {port} did not rejoin")

    def stop(self) -> None:
        for port in list(self.processes):
            self.kill(port)


def _cluster_ports(count: int) -> list[int]:
    """Free ports whose cluster-bus ports (+10000) are free too."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port + 10000 >= 65536 or port in ports:
            continue
        try:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", port + 10000))
        except OSError:
            continue
        ports.append(port)
    return ports


def move_slot(ports: list[int], slot: int, to_port: int) -> None:
    """Reshard one slot to the master on `to_port`, keys and all, as `redis-cli --cluster
    reshard` does: IMPORTING/MIGRATING, MIGRATE each key, then SETSLOT NODE on every master."""
    import redis

    nodes = {port: redis.Redis(port=port) for port in ports}
    ids = {port: node.execute_command("CLUSTER", "MYID").decode() for port, node in nodes.items()}
    from_port = next(
        int(master[1])
        for start, end, master, *_ in nodes[ports[0]].execute_command("CLUSTER", "SLOTS")
        if start <= slot <= end
    )
    source, target = nodes[from_port], nodes[to_port]
    target.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", ids[from_port])
    source.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", ids[to_port])
    while keys := source.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 100):
        source.execute_command("MIGRATE", "127.0.0.1", to_port, "", 0, 5000, "KEYS", *keys)
    for port in (to_port, from_port, *ports):
        nodes[port].execute_command("CLUSTER", "SETSLOT", slot, "NODE", ids[to_port])
    for node in nodes.values():
        node.close()
