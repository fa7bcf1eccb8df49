"""`python -m server complete-order`: a person completes an order held for review.

For a payment someone has checked with PayHero (docs/OPERATIONS.md, "Payments held for
review"): a payment of another amount the shop decides to honour, or a success without a
receipt that PayHero confirms. Only an order held for review, unless `--override --reason`
(recorded); never with a receipt that already paid for another order
(`server/payments/review_desk.py` decides both). The order completes through the one way a
status changes (`StatusChanges.apply`), so its tickets are signed, its e-mails queued and waiting browsers
told, as for any payment. The review note stays on the order, and the change is recorded
with source `operator`, the note given and who acted ("command line"; the desk's **Complete**
calls the same function with its token's name).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import NotRequired, TypedDict

from server.app import open_services
from server.desk.reviews import RECEIPT
from server.logs import configure_logging
from server.payments.review_desk import complete_after_review
from server.services import Services
from server.settings import Settings

# Who the desk's record names for a completion made here (the desk names its token's holder).
COMMAND_LINE = "command line"


class NoSuchOrder(TypedDict):
    order: str  # as given
    error: str | None


class Completed(TypedDict):
    order_id: str
    payment_status: str | None
    # Why nothing changed (already paid, a receipt of another order); absent when completed now.
    error: NotRequired[str]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "complete-order", help="complete an order held for review, once PayHero shows the payment"
    )
    parser.add_argument("order", help="order id or number (ORD-…)")
    parser.add_argument("--receipt", required=True, help="the M-PESA receipt PayHero shows for it")
    parser.add_argument("--note", default="completed by an operator after review", help="why, for the record")
    parser.add_argument(
        "--override",
        action="store_true",
        help="complete an order that is NOT held for review (needs --reason)",
    )
    parser.add_argument("--reason", help="why an order not held for review is completed anyway (recorded)")
    parser.set_defaults(handler=run)


async def complete(
    services: Services, order_ref: str, receipt: str, note: str, override_reason: str | None = None
) -> NoSuchOrder | Completed:
    """Complete the order; the line to print says what happened (`error` when nothing did)."""
    done = await complete_after_review(
        services.database,
        services.changes,
        order_ref,
        receipt,
        note=note,
        actor=COMMAND_LINE,
        override_reason=override_reason,
    )
    if done.order_id is None:
        return {"order": order_ref, "error": done.error}
    line: Completed = {"order_id": done.order_id, "payment_status": done.payment_status}
    if done.error is not None:
        line["error"] = done.error
    return line


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.override != bool(args.reason and args.reason.strip()):
        print(json.dumps({"error": "--override and --reason go together: say why, it is recorded"}))
        return 2
    if not RECEIPT.match(args.receipt):
        print(json.dumps({"error": "--receipt must be an M-PESA receipt: 6 to 32 capitals and digits"}))
        return 2

    async def go() -> int:
        async with open_services(settings) as services:
            line = await complete(services, args.order, args.receipt, args.note, args.reason)
        print(json.dumps(line))
        return 1 if "error" in line else 0

    # Log lines to stderr, as the service writes them; stdout is for the JSON line.
    configure_logging(settings.log_level, settings.log_format, secrets=settings.secret_values())
    return asyncio.run(go())
