"""A motivated attacker against the money (issue 24): one receipt pays once, a callback is
never pinned to a push by elimination, and nothing routes around PayHero's own word.

PayHero is our stand-in on a real port; the service is a real uvicorn on both stacks; the
callbacks come in both shapes. A forger here holds the callback token (it sits in PayHero's
dashboard and every proxy log of the webhook's URL) and knows another order's PayHero
reference and receipt.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import sqlalchemy as sa

from server.payhero.fake import Push, flat_callback_body
from server.settings import Settings
from server.store.tables import payment_pushes
from tests.test_payment_lifecycle import (
    CALLBACK,
    SHAPES,
    Shop,
    order_with_lost_answer,
    paid_order,
    send_again_when_allowed,
    shop,
)


def forged_success(world: Shop, victim: dict[str, Any], paid: Push, shape: str) -> dict[str, Any]:
    """A success for `victim` carrying the other order's PayHero ids and receipt."""
    if shape == "flat":
        return flat_callback_body(
            result="success",
            external_reference=victim["order_number"],
            reference=paid.reference,
            amount=victim["amount"],
            receipt=paid.receipt,
        )
    body = world.fake.settle(paid, "success", shape="v2")
    body["response"]["ExternalReference"] = victim["order_number"]
    return body


@pytest.mark.parametrize("shape", SHAPES)
async def test_another_orders_reference_and_receipt_buy_nothing(stack_settings: Settings, shape: str) -> None:
    """The issue's attack: B's push lost its answer; a success for B names A's payment."""
    async with shop(stack_settings, shape=shape, service={"payhero_verify_callbacks": True}) as world:
        _, first_push = await paid_order(world)
        victim = await order_with_lost_answer(world)
        held = await world.http.post(CALLBACK, json=forged_success(world, victim, first_push, shape))
        # Flat: PayHero's record of that reference names order A, so it answers no push of B.
        # v2: B's push cannot take the callback's id, so there is nothing to verify it by.
        assert held.json()["review"] == ("unknown_push" if shape == "flat" else "unverified")
        document = await world.document(victim["order_id"])
        assert document["payment_status"] == "processing" and document["tickets"] == []
        assert await world.signed_tickets(victim["order_id"]) == 0
        [push] = await world.push_rows(victim["order_id"])
        assert push["payhero_reference"] is None and push["checkout_request_id"] is None


async def test_one_receipt_on_two_orders_at_once_completes_exactly_one(stack_settings: Settings) -> None:
    """The uniqueness holds under concurrency: the store's key decides, not a prior read."""
    async with shop(stack_settings) as world:
        placed = [await world.checkout() for _ in range(4)]
        pushes = [world.pushes_of(order)[0] for order in placed]
        for push in pushes:
            push.receipt = "SSAMERCPT1"
        answers = await asyncio.gather(
            *(world.http.post(CALLBACK, json=world.fake.settle(push, "success")) for push in pushes)
        )
        bodies = [answer.json() for answer in answers]
        assert sorted(body.get("review", body["payment_status"]) for body in bodies) == [
            "completed",
            "receipt_reused",
            "receipt_reused",
            "receipt_reused",
        ]
        completed = [(await world.row(order["order_id"]))["receipt_number"] for order in placed]
        assert completed.count("SSAMERCPT1") == 1


@pytest.mark.parametrize("shape", SHAPES)
async def test_a_success_after_the_expiry_pass_read_payheros_failure_is_asked_again(
    stack_settings: Settings, shape: str
) -> None:
    async with shop(stack_settings, shape=shape) as world:
        order = await world.checkout()
        [push] = world.pushes_of(order)
        world.fake.settle(push, "insufficient")  # PayHero's record: FAILED; its callback never came
        await world.expire_now()
        assert (await world.document(order["order_id"]))["payment_status"] == "failed"
        forged = world.fake.settle(push, "success")
        push.status = "FAILED"
        held = await world.http.post(CALLBACK, json=forged)
        assert held.json()["review"] == "contradicts_provider"
        assert (await world.document(order["order_id"]))["payment_status"] == "failed"


@pytest.mark.parametrize("shape", SHAPES)
async def test_a_success_for_a_push_payhero_reported_cancelled_is_asked_again(
    stack_settings: Settings, shape: str
) -> None:
    async with shop(stack_settings, shape=shape) as world:
        order = await world.checkout()
        assert (await send_again_when_allowed(world, order["order_id"])).status_code == 202
        first, _ = world.pushes_of(order)
        stale = await world.http.post(CALLBACK, json=world.fake.settle(first, "cancelled"))
        assert stale.json()["ignored"] == "superseded_push"
        forged = world.fake.settle(first, "success")
        first.status = "FAILED"  # PayHero still says that push was cancelled
        held = await world.http.post(CALLBACK, json=forged)
        assert held.json()["review"] == "contradicts_provider"
        assert (await world.document(order["order_id"]))["payment_status"] == "processing"


async def test_the_expiry_pass_never_completes_on_another_amount(stack_settings: Settings) -> None:
    async with shop(stack_settings, pay_amount=1) as world:
        order = await world.checkout()
        [push] = world.pushes_of(order)
        world.fake.settle(push, "success")  # PayHero: SUCCESS, amount 1, for a KES 300 order
        assert push.paid_amount == 1 and order["amount"] > 1
        await world.expire_now()
        document = await world.document(order["order_id"])
        assert document["payment_status"] == "expired" and document["tickets"] == []
        row = await world.row(order["order_id"])
        assert row["needs_review"].startswith("review: amount_mismatch")
        assert world.reviews("amount_mismatch") == 1


async def test_the_expiry_pass_never_completes_with_a_receipt_already_used(stack_settings: Settings) -> None:
    async with shop(stack_settings) as world:
        _, first_push = await paid_order(world)
        order = await world.checkout()
        [push] = world.pushes_of(order)
        push.receipt = first_push.receipt
        world.fake.settle(push, "success")
        await world.expire_now()
        row = await world.row(order["order_id"])
        assert row["payment_status"] == "expired" and row["receipt_number"] is None
        assert row["needs_review"].startswith("review: receipt_reused")
        count = sa.select(sa.func.count()).where(payment_pushes.c.receipt_number == first_push.receipt)
        assert await world.live.services.database.fetch_val(count) == 1
