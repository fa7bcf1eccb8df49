"""The background passes go past a bad row, and a deploy never cuts an STK push in flight."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from server.app import settle_left_behind
from server.clock import iso_from_ms, now_ms
from server.lifecycle import PROCESSING
from server.payhero.fake import callback_body
from server.payments.callbacks import CallbackOutcome, CallbackProcessor
from server.payments.expiry import ExpiryWorker
from server.services import Services
from server.status.document import StatusUpdate
from server.store.tables import payhero_callbacks, payment_pushes
from server.transitions.change import Change
from tests.local_http import local_client
from tests.payhero_fixtures import ORDER, TOKEN, fake_payhero
from tests.process_harness import running_service
from tests.server_harness import until


def errors(services: Services, task: str) -> float:
    registry = services.metrics.registry
    return registry.get_sample_value("payment_status_background_errors_total", {"task": task}) or 0.0


@dataclass
class OneBadOrder(ExpiryWorker):
    """An expiry pass for which one order cannot be settled (say, a row a bug wrote)."""

    bad: str = ""

    async def _references(self, order_id: str, reference: str | None) -> list[str]:
        if order_id == self.bad:
            raise RuntimeError("a row the expiry pass cannot read")
        return await super()._references(order_id, reference)


async def test_the_expiry_pass_logs_and_counts_a_bad_row_and_goes_on(services: Services) -> None:
    first = await services.changes.create({"amount": 300})
    second = await services.changes.create({"amount": 300})
    worker = OneBadOrder(
        services.database,
        services.changes,
        services.payhero,
        expiry_seconds=0.0,
        interval=60,
        on_error=services.metrics.background_error,
        bad=first.order_id,
    )
    await asyncio.sleep(0.002)  # both rows strictly older than the pass's cutoff
    assert await worker.run_once() == 2
    assert (await services.reader.get(first.order_id)).payment_status == "pending"  # type: ignore[union-attr]
    assert (await services.reader.get(second.order_id)).payment_status == "expired"  # type: ignore[union-attr]
    assert errors(services, "payment-expiry") == 1


def stored_success(order: StatusUpdate) -> bytes:
    number = str(order.document["order_number"])
    return json.dumps(
        callback_body(
            result="success",
            external_reference=number,
            checkout_request_id=f"ws_CO_SANDBOX_{number}",
            amount=300,
            phone="254712345678",
        )
    ).encode()


async def prompted_order(services: Services) -> StatusUpdate:
    order = await services.changes.create({"amount": 300})
    number = str(order.document["order_number"])
    fields = {"checkout_request_id": f"ws_CO_SANDBOX_{number}", "payhero_reference": f"SANDBOX-{number}"}
    await services.changes.apply(order.order_id, Change(PROCESSING, source="test", fields=fields))
    return order


async def store_callback(services: Services, body: bytes, received_ms: int) -> int:
    """A callback row as a request leaves it when the store fails it after the INSERT."""
    stored = await services.database.fetch_val(
        payhero_callbacks.insert()
        .values(received_ms=received_ms, body=body)
        .returning(payhero_callbacks.c.id)
    )
    return int(stored)


@dataclass(frozen=True)
class OneBadCallback(CallbackProcessor):
    bad: int = 0

    async def apply_stored(self, inbox_id: int, body: bytes) -> CallbackOutcome:
        if inbox_id == self.bad:
            raise RuntimeError("a stored row that cannot be applied")
        return await super().apply_stored(inbox_id, body)


async def test_the_start_up_replay_logs_and_counts_a_bad_row_and_goes_on(services: Services) -> None:
    order = await prompted_order(services)
    body = stored_success(order)
    ids = [await store_callback(services, body, now_ms()) for _ in range(2)]
    processor = OneBadCallback(
        services.database,
        services.changes,
        services.payhero,
        on_error=services.metrics.background_error,
        bad=ids[0],
    )
    assert await processor.replay_unprocessed() == 2
    assert (await services.reader.get(order.order_id)).payment_status == "completed"  # type: ignore[union-attr]
    assert errors(services, "callback-replay") == 1


async def test_a_deploys_sigterm_does_not_cut_a_push_in_flight(tmp_path: Path) -> None:
    """PayHero answers slowly; SIGTERM lands meanwhile. The push gets its answer and is recorded."""
    async with fake_payhero(stall_seconds=2.0) as (fake, url):
        env = {
            "DATA_DIR": str(tmp_path / "data"),
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'service.sqlite3'}",
            "PAYHERO_MODE": "live",
            "PAYHERO_API_USERNAME": "api-user",
            "PAYHERO_API_PASSWORD": "api-secret",
            "PAYHERO_CHANNEL_ID": "4242",
            "PAYHERO_BASE_URL": url,
            "PAYHERO_TIMEOUT": "10",
            "PUBLIC_BASE_URL": "http://127.0.0.1:9",
            "CALLBACK_TOKEN": TOKEN,
            "TICKET_SIGNING_KEY": "s" * 40,
            "LOG_LEVEL": "INFO",
        }
        with running_service(env, tmp_path) as service:
            async with local_client(service.base_url, timeout=30) as http:
                checkout = asyncio.create_task(http.post("/api/orders", json=ORDER))
                await until(lambda: len(fake.pushes) == 1)  # the push is with PayHero now
                service.signal(signal.SIGTERM)
                response = await checkout
            # uvicorn re-raises the SIGTERM it handled once it has shut down cleanly.
            assert await asyncio.to_thread(service.wait, 20) in (0, -signal.SIGTERM)
            assert "Application shutdown complete" in service.log()
    assert response.status_code == 201 and response.json()["payment_status"] == "processing"
    with sqlite3.connect(tmp_path / "service.sqlite3") as db:
        push = db.execute("SELECT outcome, checkout_request_id FROM payment_pushes").fetchall()
        status = db.execute("SELECT payment_status, checkout_request_id FROM orders").fetchall()
    [(reference,)] = [(p.checkout_request_id,) for p in fake.pushes.values()]
    assert push == [("accepted", reference)] and status == [("processing", reference)]


async def test_a_push_a_dead_process_left_sending_is_adopted_as_unknown(services: Services) -> None:
    """kill -9 mid-push: no answer will come. The order waits as for a lost answer."""
    dead = await services.changes.create({"amount": 300})
    live = await services.changes.create({"amount": 300})
    long_ago = now_ms() - 60_000
    for order, sent in ((dead, long_ago), (live, now_ms())):
        await services.database.execute(
            payment_pushes.insert().values(
                order_id=order.order_id, attempt=1, sent_ms=sent, outcome="sending"
            )
        )
    assert await services.pushes.adopt_orphans(30.0) == 1
    document = (await services.reader.get(dead.order_id)).document  # type: ignore[union-attr]
    assert document["payment_status"] == "processing" and document["pushes"] == 1
    window = int(services.settings.prompt_window * 1000)
    assert document["prompt_expires_at"] == iso_from_ms(long_ago + window)
    rows = await services.database.fetch_all(sa.select(payment_pushes.c.order_id, payment_pushes.c.outcome))
    assert {r["order_id"]: r["outcome"] for r in rows} == {
        dead.order_id: "unknown",
        live.order_id: "sending",  # still within PayHero's timeout: maybe in flight elsewhere
    }
    assert (await services.reader.get(live.order_id)).payment_status == "pending"  # type: ignore[union-attr]


async def marks(services: Services) -> dict[int, tuple[str | None, str | None]]:
    rows = await services.database.fetch_all(
        sa.select(payhero_callbacks.c.id, payhero_callbacks.c.outcome, payhero_callbacks.c.order_id)
    )
    return {row["id"]: (row["outcome"], row["order_id"]) for row in rows}


async def test_a_callback_a_request_stored_but_could_not_apply_is_applied_by_the_next_pass(
    services: Services,
) -> None:
    """PayHero documents no retry: a success stored, then refused by the store (503 under
    load), is applied by the expiry pass's first step, not only at the next start. One stored
    within the last `older_than` seconds is left to the request that may still be applying it."""
    stale, fresh = await prompted_order(services), await prompted_order(services)
    stale_id = await store_callback(services, stored_success(stale), now_ms() - 120_000)
    fresh_id = await store_callback(services, stored_success(fresh), now_ms())

    await settle_left_behind(services, older_than=60)

    assert (await services.reader.get(stale.order_id)).payment_status == "completed"  # type: ignore[union-attr]
    assert (await services.reader.get(fresh.order_id)).payment_status == "processing"  # type: ignore[union-attr]
    assert (await marks(services)) == {stale_id: ("applied", stale.order_id), fresh_id: (None, None)}


async def test_one_stored_callback_applied_by_two_passes_at_once_stays_applied(services: Services) -> None:
    """Two workers' passes may pick the same row: one status change between them, and the
    row keeps the first mark (`applied`), not the other's `duplicate` of its own payment."""
    order = await prompted_order(services)
    body = stored_success(order)
    inbox_id = await store_callback(services, body, now_ms() - 120_000)

    await asyncio.gather(*(services.callbacks.apply_stored(inbox_id, body) for _ in range(2)))
    # And once more after both: the row is processed, its mark unchanged.
    await services.callbacks.apply_stored(inbox_id, body)

    final = await services.reader.get(order.order_id)
    assert final is not None and final.payment_status == "completed" and final.version == 3
    assert (await marks(services))[inbox_id] == ("applied", order.order_id)
