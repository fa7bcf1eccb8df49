"""PayHero's webhook over real HTTP: every documented answer, and nothing changed by a bad one."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from server.payhero.fake import FakePayHero, Push
from server.settings import Settings
from server.store.tables import orders, payhero_callbacks
from server.transitions.change import Change
from tests.local_http import local_client
from tests.payhero_fixtures import ORDER, TOKEN, fake_payhero, live_settings
from tests.server_harness import RunningServer, run_server

CALLBACK = f"/api/payhero/callback/{TOKEN}"


@dataclass
class World:
    live: RunningServer
    http: httpx.AsyncClient
    fake: FakePayHero

    async def order(self) -> tuple[dict[str, Any], Push]:
        response = await self.http.post("/api/orders", json=ORDER)
        assert response.status_code == 201
        body = response.json()
        push = next(p for p in self.fake.pushes.values() if p.external_reference == body["order_number"])
        return body, push

    async def stored(self, order_id: str) -> dict[str, Any]:
        row = await self.live.services.database.fetch_one(orders.select().where(orders.c.id == order_id))
        assert row is not None
        return dict(row)

    async def snapshot(self) -> list[dict[str, Any]]:
        rows = await self.live.services.database.fetch_all(orders.select().order_by(orders.c.id))
        return [dict(r) for r in rows]

    async def inbox(self) -> int:
        query = sa.select(sa.func.count()).select_from(payhero_callbacks)
        return int(await self.live.services.database.fetch_val(query))


@pytest.fixture
async def world(stack_settings: Settings) -> AsyncIterator[World]:
    async with fake_payhero() as (fake, url):
        async with run_server(live_settings(stack_settings, url)) as live:
            async with local_client(live.base_url, timeout=30) as http:
                yield World(live, http, fake)


@pytest.mark.parametrize(
    ("result", "status", "code"),
    [
        ("success", "completed", 0),
        ("cancelled", "cancelled", 1032),
        ("insufficient", "failed", 1),
        ("unreachable", "expired", 1037),
        ("wrong-pin", "failed", 2001),
    ],
)
@pytest.mark.parametrize("shape", ["v2", "flat"])
async def test_a_callback_moves_the_order_to_its_final_status(
    world: World, result: str, status: str, code: int, shape: str
) -> None:
    """In PayHero's v2 shape and in API 2.0's flat one, where M-PESA's message says it all."""
    order, push = await world.order()
    body = world.fake.settle(push, result, shape=shape)
    response = await world.http.post(CALLBACK, json=body)
    assert response.status_code == 200
    assert response.json() == {"ok": True, "order_id": order["order_id"], "payment_status": status}
    document = (await world.http.get(f"/api/orders/{order['order_id']}")).json()
    assert document["payment_status"] == status and document["version"] == 3
    words = body["response"]["ResultDesc"] if shape == "v2" else body["message"]
    assert document["result_code"] == code and document["result_desc"] == words
    assert document["receipt_number"] == (push.receipt if status == "completed" else None)


async def test_five_identical_concurrent_callbacks_change_the_order_once(world: World) -> None:
    order, push = await world.order()
    body = world.fake.settle(push, "success")
    published = world.live.services.hub.published
    responses = await asyncio.gather(*(world.http.post(CALLBACK, json=body) for _ in range(5)))
    assert [r.status_code for r in responses] == [200] * 5
    assert {r.json()["payment_status"] for r in responses} == {"completed"}
    assert (await world.stored(order["order_id"]))["version"] == 3
    assert world.live.services.hub.published - published == 1
    assert await world.inbox() == 5  # every delivery is kept, for audit


@pytest.mark.parametrize("late", ["cancelled", "insufficient", "unreachable"])
async def test_a_failure_after_completed_changes_nothing(world: World, late: str) -> None:
    order, push = await world.order()
    await world.http.post(CALLBACK, json=world.fake.settle(push, "success"))
    before = await world.stored(order["order_id"])
    response = await world.http.post(CALLBACK, json=world.fake.settle(push, late))
    assert response.status_code == 200 and response.json()["payment_status"] == "completed"
    assert await world.stored(order["order_id"]) == before


async def test_a_success_after_expiry_completes(world: World) -> None:
    order, push = await world.order()
    await world.live.services.changes.apply(order["order_id"], Change("expired", source="test"))
    response = await world.http.post(CALLBACK, json=world.fake.settle(push, "success"))
    assert response.json()["payment_status"] == "completed"
    stored = await world.stored(order["order_id"])
    assert stored["payment_status"] == "completed" and stored["receipt_number"] == push.receipt


async def test_a_wrong_token_is_404_and_stores_nothing(world: World) -> None:
    _, push = await world.order()
    before = await world.snapshot()
    response = await world.http.post(
        f"/api/payhero/callback/{'x' * len(TOKEN)}", json=world.fake.settle(push, "success")
    )
    assert response.status_code == 404 and response.json()["error"] == "not_found"
    assert await world.inbox() == 0 and await world.snapshot() == before


async def test_the_fast_path_answers_as_the_router_would(world: World) -> None:
    """PayHero's callback is served past the Router (server/routes/payhero_webhook.py): its
    route is still the Router's for other methods, a wrong token reads exactly as an
    unknown path, and a success is the JSON it always was."""
    assert (await world.http.get(CALLBACK)).status_code == 405
    unknown = await world.http.post("/api/no-such-route", json={})
    wrong = await world.http.post(f"/api/payhero/callback/{'x' * len(TOKEN)}", json={})
    assert unknown.status_code == wrong.status_code == 404 and wrong.content == unknown.content
    _, push = await world.order()
    paid = await world.http.post(CALLBACK, json=world.fake.settle(push, "success"))
    assert paid.status_code == 200 and paid.headers["content-type"] == "application/json"
    assert int(paid.headers["content-length"]) == len(paid.content)
    assert paid.json()["payment_status"] == "completed"


def reshaped(body: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    copy = json.loads(json.dumps(body))
    target = copy
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return copy


@pytest.mark.parametrize(
    ("mangle", "status", "answer"),
    [
        (lambda b: b"this is not json", 400, "invalid_callback"),
        (lambda b: json.dumps({"hello": "world"}).encode(), 400, "invalid_callback"),
        (
            lambda b: json.dumps(reshaped(b, ("response", "ResultCode"), "zero")).encode(),
            400,
            "invalid_callback",
        ),
        (lambda b: json.dumps(reshaped(b, ("response", "Amount"), [300])).encode(), 400, "invalid_callback"),
        (
            lambda b: json.dumps(reshaped(b, ("response", "ExternalReference"), "ORD-NOSUCH")).encode(),
            200,
            "unknown_order",
        ),
        (
            lambda b: json.dumps(reshaped(b, ("response", "CheckoutRequestID"), "ws_CO_OTHER")).encode(),
            200,
            "unknown_push",
        ),
        (lambda b: json.dumps(reshaped(b, ("response", "Amount"), 1)).encode(), 200, "amount_mismatch"),
        (lambda b: json.dumps({**b, "padding": "x" * 70_000}).encode(), 413, "payload_too_large"),
    ],
    ids=[
        "not-json",
        "wrong-shape",
        "wrong-type",
        "wrong-amount-type",
        "unknown-reference",
        "checkout-mismatch",
        "amount-mismatch",
        "huge",
    ],
)
async def test_bad_callbacks_get_their_answer_and_change_no_order(
    world: World, mangle: Any, status: int, answer: str
) -> None:
    _, push = await world.order()
    await world.order()  # a second order, which must not be touched either
    before = await world.snapshot()
    raw = mangle(world.fake.settle(push, "success"))
    response = await world.http.post(CALLBACK, content=raw, headers={"content-type": "application/json"})
    assert response.status_code == status
    body = response.json()
    if status == 200:
        # A success that could not be applied is held for review, never silently ignored.
        assert body["ok"] is True and body["review"] == answer
    else:
        assert body["error"] == answer
    after = await world.snapshot()
    held = [row for row in after if row["needs_review"]]
    assert len(held) == (1 if answer in ("unknown_push", "amount_mismatch") else 0)
    for row in held:
        assert row["needs_review"].startswith(f"review: {answer}")
    assert [{**row, "needs_review": None} for row in after] == before
    # Stored for audit, except what was too large to read.
    assert await world.inbox() == (0 if status == 413 else 1)


async def test_with_verification_only_a_confirmed_success_completes(stack_settings: Settings) -> None:
    async with fake_payhero() as (fake, url):
        settings = live_settings(stack_settings, url, payhero_verify_callbacks=True)
        async with run_server(settings) as live, local_client(live.base_url) as http:
            world = World(live, http, fake)
            order, push = await world.order()
            forged = world.fake.settle(push, "success")
            push.status = "QUEUED"  # PayHero itself has no success on record
            response = await http.post(CALLBACK, json=forged)
            assert response.json()["review"] == "unverified"
            assert (await world.stored(order["order_id"]))["payment_status"] == "processing"
            push.status = "SUCCESS"
            response = await http.post(CALLBACK, json=forged)
            assert response.json()["payment_status"] == "completed"
