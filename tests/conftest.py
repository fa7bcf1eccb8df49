from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path

import pytest

from server.app import open_services
from server.services import Services
from server.settings import Settings
from server.store import Database
from server.store.database import migrate, open_database
from tests.backends import REDIS_URL, OwnRedis, OwnRedisCluster, PostgresDatabases, check_redis
from tests.browser_fixtures import (  # noqa: F401  (one per worker, for every page test)
    _full_chromium_running,
    browser,
    full_chromium,
)

Store = str  # "sqlite" | "postgres"

# Modules whose tests run real processes, whole benchmarks or a fuzzer: `-m "not slow"` skips them.
SLOW_MODULES = frozenset({"test_bench_smoke", "test_fuzz_api", "test_shutdown_and_crash"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test by what it needs, so a developer can pick a fast subset (README)."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        callspec = getattr(item, "callspec", None)
        stack = callspec.params.get("stack") if callspec is not None else None
        if "postgres" in fixtures or (stack and stack[0] == "postgres"):
            item.add_marker(pytest.mark.postgres)
        if "redis_url" in fixtures or "redis_cluster" in fixtures or (stack and stack[1] != "memory"):
            item.add_marker(pytest.mark.redis)
        if "browser" in fixtures or "full_chromium" in fixtures:
            item.add_marker(pytest.mark.browser)
        if item.module is not None and item.module.__name__.rsplit(".", 1)[-1] in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)
    items[:] = spread(items, lambda item: item.get_closest_marker("waits") is not None)


# Tests marked `waits` spend most of their time on timers (a flash sale at a tenth of real
# time, a page's 5 s between long-poll attempts, a 25 s network cut): spread evenly over the
# run, their waits overlap other tests' work. In collection order the benchmark smoke tests
# ran side by side on every worker at once, and the machine sat at 40% for 20 s.
def spread(items: list[pytest.Item], chosen: Callable[[pytest.Item], bool]) -> list[pytest.Item]:
    """`items` with the chosen ones placed at even intervals among the others, the first one
    first and the last a whole interval before the end (a long wait last would be the run's
    tail), each group in its own order: pytest-xdist hands tests out in this order."""
    picked = [item for item in items if chosen(item)]
    others = [item for item in items if not chosen(item)]
    if not picked or not others:
        return items
    step = len(others) / len(picked)
    placed: list[pytest.Item] = []
    for index, item in enumerate(picked):
        placed.append(item)
        placed.extend(others[int(index * step) : int((index + 1) * step)])
    return placed


BrokerKind = str  # "memory" | "redis" | "cluster"


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresDatabases]:
    from tests.backends import POSTGRES_ADMIN_URL, pool_budget

    databases = PostgresDatabases(POSTGRES_ADMIN_URL)
    databases.check()
    # Every service process this worker starts inherits the pool size (the in-process ones get
    # it in make_settings), unless the developer chose one.
    chosen = os.environ.get("DATABASE_POOL_SIZE")
    if chosen is None:
        workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
        os.environ["DATABASE_POOL_SIZE"] = str(pool_budget(POSTGRES_ADMIN_URL, workers))
    try:
        yield databases
    finally:
        databases.drop_all()
        if chosen is None:
            os.environ.pop("DATABASE_POOL_SIZE", None)


@pytest.fixture(scope="session")
def redis_url() -> str:
    check_redis()
    return REDIS_URL


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnRedisCluster]:
    """A Redis Cluster of three masters, shared by this session's cluster tests.

    Tests that stop a master restart it before they end, so the next test finds all three.
    """
    cluster = OwnRedisCluster(tmp_path_factory.mktemp("redis-cluster"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    """A redis-server of this test's own, started; the test may kill, restart or pause it."""
    own = OwnRedis(tmp_path)
    own.start()
    try:
        yield own
    finally:
        own.stop()


@pytest.fixture
def make_settings(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[..., Settings]]:
    """Settings for a store and broker kind, on real backends, isolated to this test.

    A PostgreSQL database it gave out goes back, emptied, when the test ends (tests/backends.py).
    """
    handed_out: list[tuple[PostgresDatabases, str]] = []

    def build(
        store: Store = "sqlite",
        broker: BrokerKind = "memory",
        *,
        env: Mapping[str, str] | None = None,
        **overrides: object,
    ) -> Settings:
        pool: dict[str, str] = {}
        if store == "postgres":
            databases: PostgresDatabases = request.getfixturevalue("postgres")
            database_url = databases.new_url()
            handed_out.append((databases, database_url))
            pool = {"DATABASE_POOL_SIZE": os.environ["DATABASE_POOL_SIZE"]}
        else:
            database_url = f"sqlite+aiosqlite:///{tmp_path / 'test.sqlite3'}"
        redis = request.getfixturevalue("redis_url") if broker == "redis" else None
        if broker == "cluster":
            redis = request.getfixturevalue("redis_cluster").url
        variables = {"DATABASE_URL": database_url, "DATA_DIR": str(tmp_path / "data"), "LOG_LEVEL": "WARNING"}
        variables |= pool
        # Push limits off, as for a load test: every test client is 127.0.0.1, and on Redis the
        # counts outlive a test. tests/test_push_limits.py turns them on where they are tested.
        variables |= {"PUSH_LIMIT_PER_PHONE": "0", "PUSH_LIMIT_PER_IP": "0"}
        # The gate's guessing limits too; tests/test_gate_doors.py turns them on.
        variables |= {"GATE_LIMIT_PER_IP": "0", "GATE_LIMIT_PER_TOKEN": "0"}
        # And no cap on unpaid seats: tests place many orders from one phone and one address.
        # tests/test_unpaid_holds.py turns them on.
        variables |= {"MAX_UNPAID_SEATS_PER_PHONE": "0", "MAX_UNPAID_SEATS_PER_CLIENT": "0"}
        # Likewise no cap on waiters per address; tests/test_ghost_waiters.py sets one.
        variables |= {"MAX_WAITERS_PER_CLIENT": "0", "MAX_WAITERS_PER_CLIENT_ORDER": "0"}
        if redis:
            variables["REDIS_URL"] = str(redis)
        if broker == "cluster":
            variables["REDIS_CLUSTER"] = "1"
        # `env`: variables as an operator sets them (read through the same parsing).
        base = Settings.from_env(variables | dict(env or {}), dotenv=None)
        return base.with_overrides(**overrides) if overrides else base

    yield build
    for databases, url in handed_out:
        databases.release(url)


STACKS = [
    pytest.param(("sqlite", "memory"), id="sqlite-memory"),
    pytest.param(("postgres", "redis"), id="postgres-redis"),
]


@pytest.fixture(params=STACKS)
def stack(request: pytest.FixtureRequest) -> tuple[Store, BrokerKind]:
    value: tuple[Store, BrokerKind] = request.param
    return value


@pytest.fixture
def stack_settings(stack: tuple[Store, BrokerKind], make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(*stack)


@pytest.fixture
async def services(stack_settings: Settings) -> AsyncIterator[Services]:
    async with open_services(stack_settings) as svc:
        yield svc


@pytest.fixture(params=["sqlite", "postgres"])
async def migrated_store(
    request: pytest.FixtureRequest, make_settings: Callable[..., Settings]
) -> AsyncIterator[Database]:
    """A store of the test's own on each backend, migrated, with nothing of the service around."""
    db = open_database(make_settings(request.param).database_url)
    await db.connect()
    await migrate(db)
    yield db
    await db.disconnect()
