"""The store is a boundary: driver errors leave `server/store/` as the project's own.

A PostgreSQL that refuses connections (too many clients for the role; a database not
accepting connections) is made real on the shared server, for the test's own role and
database, and every route meets it as a JSON 503 with `Retry-After`. A statement the
schema no longer matches is a bug, answered as a 500 with its traceback in the log.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest

from server.services import Services
from server.settings import Settings
from server.store.failures import StoreConflict, StoreError, StoreUnavailable, translating
from tests.backends import POSTGRES_ADMIN_URL, PostgresDatabases
from tests.helpers import new_order
from tests.local_http import local_client
from tests.payhero_fixtures import ORDER, TOKEN, sandbox_callback
from tests.server_harness import run_server

CALLBACK = f"/api/payhero/callback/{TOKEN}"


class OwnRole:
    """A login role (not a superuser, so limits apply to it) owning a database of its own."""

    def __init__(self, postgres: PostgresDatabases) -> None:
        self.name = f"ps_test_role_{uuid.uuid4().hex[:10]}"
        self.database = postgres.new_url(fresh=True).rsplit("/", 1)[1]

    @property
    def url(self) -> str:
        base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("://postgres@", f"://{self.name}@")
        return f"{base.replace('postgresql://', 'postgresql+asyncpg://')}/{self.database}"

    async def admin(self, *statements: str) -> None:
        conn = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    async def create(self) -> None:
        await self.admin(
            f'CREATE ROLE "{self.name}" LOGIN NOSUPERUSER',
            f'ALTER DATABASE "{self.database}" OWNER TO "{self.name}"',
        )

    async def drop_connections(self) -> None:
        await self.admin(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{self.database}'"
        )

    async def remove(self) -> None:
        await self.admin(
            f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)', f'DROP ROLE IF EXISTS "{self.name}"'
        )


@pytest.fixture
async def own_role(postgres: PostgresDatabases) -> AsyncIterator[OwnRole]:
    role = OwnRole(postgres)
    await role.create()
    try:
        yield role
    finally:
        await role.remove()


REFUSALS = {
    # SQLSTATE 53300 "too many connections for role"
    "too-many-clients": ('ALTER ROLE "{role}" CONNECTION LIMIT 0', 'ALTER ROLE "{role}" CONNECTION LIMIT -1'),
    # SQLSTATE 55000 "database … is not currently accepting connections"
    "not-accepting-connections": (
        'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false',
        'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true',
    ),
}


@pytest.mark.postgres
@pytest.mark.parametrize("refusal", sorted(REFUSALS))
async def test_postgres_refusing_connections_answers_json_503_with_retry_after(
    refusal: str, own_role: OwnRole, make_settings: Callable[..., Settings]
) -> None:
    refuse, allow = (s.format(role=own_role.name, database=own_role.database) for s in REFUSALS[refusal])
    settings = make_settings("sqlite", "memory", sandbox_delay=600.0, callback_token=TOKEN)
    settings = settings.with_overrides(database_url=own_role.url)
    async with run_server(settings) as live, local_client(live.base_url, timeout=30) as http:
        order = (await http.post("/api/orders", json={**ORDER, "phone": "0712349999"})).json()
        await own_role.admin(refuse)
        await own_role.drop_connections()  # the pool must connect again, and is refused
        try:
            refused = [
                await http.get(f"/api/orders/{order['order_id']}"),
                await http.get(order["wait_url"], params={"since": 0}),
                await http.get(order["events_url"]),
                await http.post("/api/orders", json={**ORDER, "phone": "0712349999"}),
                await http.post(CALLBACK, json=sandbox_callback(order)),
                await http.get("/api/events"),
            ]
            ready = await http.get("/readyz")
        finally:
            await own_role.admin(allow)
        for response in refused:
            assert response.status_code == 503, (response.request.url, response.text)
            assert response.headers["content-type"].startswith("application/json")
            assert response.headers["retry-after"] == "2"
            assert response.json()["error"] == "store_unavailable"
        assert ready.status_code == 503 and ready.json()["database"] == "unavailable"
        # Allowed again: the pool reconnects, and PayHero's retry of the callback is applied.
        again = await http.post(CALLBACK, json=sandbox_callback(order))
        assert again.status_code == 200 and again.json()["payment_status"] == "completed"


async def test_a_statement_the_schema_does_not_match_is_a_500_not_a_503(
    stack_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    async with run_server(stack_settings) as live, local_client(live.base_url) as http:
        order = await new_order(live.services)
        # A deployment whose schema lost a column the code reads: a bug, not an outage.
        await live.services.database.execute("ALTER TABLE orders RENAME COLUMN receipt_number TO receipt_no")
        for suffix in ("", "/wait"):
            response = await http.get(f"/api/orders/{order.order_id}{suffix}")
            assert response.status_code == 500, response.text
            assert response.json()["error"] == "internal_error"
            assert "retry-after" not in response.headers
    log = capsys.readouterr().err
    assert "Traceback" in log and "receipt_number" in log


async def test_a_duplicate_key_is_a_store_conflict(services: Services) -> None:
    first = await new_order(services)
    with pytest.raises(StoreConflict):
        await services.changes.create({"amount": 300, "order_number": first.document["order_number"]})
    # The store still answers after it: the conflict rolled back only its own statement.
    assert (await services.reader.get(first.order_id)) is not None


def test_translating_changes_only_what_its_classifier_names() -> None:
    """The boundary itself: a driver error it knows becomes the store's (with the driver's as
    its cause), a bug or a cancellation passes as it was, a store error is not wrapped twice."""

    def classify(exc: Exception) -> type[StoreError] | None:
        return StoreUnavailable if isinstance(exc, ConnectionRefusedError) else None

    refused = ConnectionRefusedError("refused")
    with pytest.raises(StoreUnavailable, match="ConnectionRefusedError: refused") as translated:
        with translating(classify):
            raise refused
    assert translated.value.__cause__ is refused
    for untouched in (KeyError("bug"), asyncio.CancelledError(), StoreConflict("taken")):
        with pytest.raises(type(untouched)) as passed:
            with translating(classify):
                raise untouched
        assert passed.value is untouched
    with translating(classify):
        pass
