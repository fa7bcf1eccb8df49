from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from server.app import open_services
from server.services import Services
from server.settings import Settings
from tests.backends import REDIS_URL, PostgresDatabases, check_redis

Store = str  # "sqlite" | "postgres"
BrokerKind = str  # "memory" | "redis"


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresDatabases]:
    from tests.backends import POSTGRES_ADMIN_URL

    databases = PostgresDatabases(POSTGRES_ADMIN_URL)
    databases.check()
    yield databases
    databases.drop_all()


@pytest.fixture(scope="session")
def redis_url() -> str:
    check_redis()
    return REDIS_URL


@pytest.fixture
def make_settings(tmp_path: Path, request: pytest.FixtureRequest) -> Callable[..., Settings]:
    """Settings for a store and broker kind, on real backends, isolated to this test."""

    def build(store: Store = "sqlite", broker: BrokerKind = "memory", **overrides: object) -> Settings:
        if store == "postgres":
            database_url = request.getfixturevalue("postgres").new_url()
        else:
            database_url = f"sqlite+aiosqlite:///{tmp_path / 'test.sqlite3'}"
        redis = request.getfixturevalue("redis_url") if broker == "redis" else None
        env = {"DATABASE_URL": database_url, "DATA_DIR": str(tmp_path / "data"), "LOG_LEVEL": "WARNING"}
        # Push limits off, as for a load test: every test client is 127.0.0.1, and on Redis the
        # counts outlive a test. tests/test_push_limits.py turns them on where they are tested.
        env |= {"PUSH_LIMIT_PER_PHONE": "0", "PUSH_LIMIT_PER_IP": "0"}
        # Likewise no cap on waiters per address; tests/test_ghost_waiters.py sets one.
        env |= {"MAX_WAITERS_PER_CLIENT": "0"}
        if redis:
            env["REDIS_URL"] = str(redis)
        base = Settings.from_env(env, dotenv=None)
        return base.with_overrides(**overrides) if overrides else base

    return build


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
