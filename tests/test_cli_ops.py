"""`python -m server list-callbacks` / `replay-callback`, run as docs/OPERATIONS.md runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from server.app import open_services
from server.clock import now_ms
from server.lifecycle import PROCESSING
from server.settings import Settings
from server.store.tables import order_changes, orders, payhero_callbacks
from server.transitions.change import Change
from tests.ops_helpers import callback_body

ROOT = Path(__file__).resolve().parent.parent


def cli(
    settings: Settings, *args: str, env: dict[str, str] | None = None
) -> tuple[int, list[dict[str, Any]], str]:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "DATA_DIR": str(settings.data_dir),
        "LOG_LEVEL": "WARNING",
        **(env or {}),
    }
    env.pop("REDIS_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "server", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return done.returncode, lines, done.stderr


async def stored_but_never_applied(settings: Settings) -> tuple[str, int]:
    """An order waiting for its payment, and its success callback stored by a process that
    died before applying it (DESIGN rule 6)."""
    async with open_services(settings) as services:
        order = await services.changes.create({"amount": 300})
        number = str(order.document["order_number"])
        fields = {"checkout_request_id": f"ws_CO_SANDBOX_{number}", "payhero_reference": "R1"}
        await services.changes.apply(order.order_id, Change(PROCESSING, source="test", fields=fields))
        inbox_id = await services.database.fetch_val(
            payhero_callbacks.insert()
            .values(received_ms=now_ms(), body=callback_body(number, Phone="+254712345678"))
            .returning(payhero_callbacks.c.id)
        )
    return order.order_id, int(inbox_id)


async def status_of(settings: Settings, order_id: str) -> str:
    async with open_services(settings) as services:
        update = await services.reader.get(order_id)
    assert update is not None
    return update.payment_status


async def test_a_stored_callback_is_found_and_replayed_once(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    order_id, inbox_id = await stored_but_never_applied(settings)

    code, listed, _ = cli(settings, "list-callbacks", "--unprocessed")
    assert code == 0 and [line["id"] for line in listed] == [inbox_id]
    assert listed[0]["outcome"] is None and "body" not in listed[0]
    assert "712345678" not in json.dumps(listed)  # the body's phone stays in the database

    code, replayed, errors = cli(settings, "replay-callback", str(inbox_id))
    assert code == 0, errors
    assert replayed == [
        {
            "id": inbox_id,
            "ok": True,
            "order_id": order_id,
            "payment_status": "completed",
            "outcome": "applied",
        }
    ]
    assert await status_of(settings, order_id) == "completed"

    code, again, _ = cli(settings, "replay-callback", str(inbox_id))
    assert code == 0 and again[0]["outcome"] == "duplicate"
    # The stored record stays as it was; the replay is recorded beside it.
    replay_id = again[0]["replay_id"]
    code, listed, _ = cli(settings, "list-callbacks", "--outcome", "dup")
    assert code == 0 and [(line["id"], line["replay_of"]) for line in listed] == [(replay_id, inbox_id)]
    code, listed, _ = cli(settings, "list-callbacks", "--outcome", "applied")
    assert [(line["id"], line["replay_of"]) for line in listed] == [(inbox_id, None)]


async def test_unprocessed_callbacks_are_replayed_in_one_go(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    order_id, inbox_id = await stored_but_never_applied(settings)
    code, replayed, errors = cli(settings, "replay-callback", "--unprocessed")
    assert code == 0, errors
    assert [(line["id"], line["outcome"]) for line in replayed] == [(inbox_id, "applied")]
    assert await status_of(settings, order_id) == "completed"


def test_unknown_ids_and_no_ids_are_errors(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    code, lines, _ = cli(settings, "replay-callback", "424242")
    assert code == 1 and lines == [{"id": 424242, "error": "no stored callback has this id"}]
    code, lines, errors = cli(settings, "replay-callback")
    assert code == 2 and lines == [] and "list-callbacks" in errors


async def hold(settings: Settings, order_id: str) -> None:
    async with open_services(settings) as services:
        await services.database.execute(
            orders.update()
            .where(orders.c.id == order_id)
            .values(needs_review="review: unverified (callback 1)")
        )


async def test_an_order_held_for_review_is_completed_by_hand_once(
    make_settings: Callable[..., Settings],
) -> None:
    """The operator's move for a payment PayHero confirms (docs/OPERATIONS.md)."""
    settings = make_settings()
    order_id, _ = await stored_but_never_applied(settings)
    code, lines, err = cli(settings, "complete-order", order_id, "--receipt", "TJE4QX1L2M")
    # Nothing to review: refused. (Exit 2 once in CI, with nothing to say why: stderr now says.)
    assert code == 1 and "not held for review" in lines[0]["error"], (code, lines, err)
    assert await status_of(settings, order_id) == "processing"
    await hold(settings, order_id)
    code, lines, stderr = cli(
        settings, "complete-order", order_id, "--receipt", "TJE4QX1L2M", "--note", "amount ok"
    )
    assert code == 0 and lines == [{"order_id": order_id, "payment_status": "completed"}], stderr
    async with open_services(settings) as services:
        update = await services.reader.get(order_id)
        assert update is not None and update.document["receipt_number"] == "TJE4QX1L2M"
        note = await services.database.fetch_val(
            sa.select(order_changes.c.note).where(order_changes.c.source == "operator")
        )
    assert note == "amount ok"
    code, lines, _ = cli(settings, "complete-order", order_id, "--receipt", "TJE4QX1L2M")
    assert code == 1 and "already completed" in lines[0]["error"]
    code, lines, _ = cli(settings, "complete-order", "ORD-NOSUCH", "--receipt", "TJE4QX1L2M")
    assert code == 1 and "no order" in lines[0]["error"]
    assert cli(settings, "complete-order", order_id, "--receipt", "<script>")[0] == 2


async def test_complete_order_refuses_a_used_receipt_and_records_an_override(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    paid_id, _ = await stored_but_never_applied(settings)
    await hold(settings, paid_id)
    code, lines, err = cli(settings, "complete-order", paid_id, "--receipt", "TJE4QX1L2M")
    assert code == 0, (code, lines, err)
    other_id, _ = await stored_but_never_applied(settings)
    await hold(settings, other_id)
    code, lines, err = cli(settings, "complete-order", other_id, "--receipt", "TJE4QX1L2M")
    assert code == 1 and f"already paid for order {paid_id}" in lines[0]["error"], (code, lines, err)
    assert await status_of(settings, other_id) == "processing"
    third_id, _ = await stored_but_never_applied(settings)  # not held
    assert cli(settings, "complete-order", third_id, "--receipt", "TKE4QX1L2M", "--override")[0] == 2
    code, lines, err = cli(
        settings,
        "complete-order",
        third_id,
        "--receipt",
        "TKE4QX1L2M",
        "--override",
        "--reason",
        "paid at the desk",
    )
    assert code == 0 and lines[0]["payment_status"] == "completed", (code, lines, err)
    async with open_services(settings) as services:
        note = await services.database.fetch_val(
            sa.select(order_changes.c.note).where(
                order_changes.c.order_id == third_id, order_changes.c.source == "operator"
            )
        )
    assert note is not None and note.startswith("override: paid at the desk")


def test_simulate_refuses_in_live_mode(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    live = {
        "PAYHERO_MODE": "live",
        "PAYHERO_API_USERNAME": "api-user",
        "PAYHERO_API_PASSWORD": "a-long-enough-api-password-0123456789",
        "PAYHERO_CHANNEL_ID": "4242",
        "PUBLIC_BASE_URL": "https://tickets.example.com",
        "CALLBACK_TOKEN": "c" * 40,
        "TICKET_SIGNING_KEY": "t" * 40,
    }
    code, _, errors = cli(settings, "simulate", "ORD-ANY", env=live)
    assert code == 2 and "refuses in live mode" in errors
