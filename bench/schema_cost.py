"""What a model layer costs on the checkout path: `python -m bench.schema_cost`.

Per checkout, in microseconds (median of several rounds, one core):
- parse: the request's bytes to a checked `CheckoutRequest` (JSON decode + every check,
  the catalogue's included), for a valid body and for one with four bad fields;
- answer: the status document (already encoded once, `StatusUpdate.json`) to the 201's bytes;
  "the route now" is routes/checkout.py's `order_json`, which adds the links to that text.

Three ways: today's hand-written code (bench/schema_handwritten.py), pydantic v2 (the model
in server/orders/validation.py), and msgspec (a Struct for the types, then the checks a
Struct cannot express, by hand: msgspec stops at the first bad field and has no per-field
messages of ours). Nothing here starts the service.
"""

from __future__ import annotations

import json
import statistics
import timeit
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import msgspec
import pydantic_core

from bench.schema_handwritten import parse_checkout as handwritten
from server.catalogue import Catalogue
from server.orders import validation
from server.orders.validation import CheckoutInvalid, CheckoutRequest
from server.routes.checkout_api import order_json
from server.schemas.document_schema import OrderCreated
from server.status.document import StatusDocument, StatusUpdate

CATALOGUE = Catalogue.load(Path(__file__).resolve().parent.parent / "server" / "data" / "catalogue.json")
VALID = json.dumps(
    {
        "event": "demo-fest",
        "ticket_type": "early-bird",
        "quantity": "2",
        "email": "Amina.Otieno@Example.co.ke",
        "first_name": "Amina",
        "last_name": "Otieno",
        "phone": "+254 712 345 678",
    }
).encode()
INVALID = json.dumps(
    {"event": "demo-fest", "ticket_type": "vvip", "quantity": 11, "email": "x", "first_name": "A1"}
).encode()
DOCUMENT: StatusDocument = {
    "order_id": "x" * 22,
    "order_number": "ORD-20261129-ABCDEF",
    "payment_status": "processing",
    "amount": 2000,
    "currency": "KES",
    "version": 2,
    "updated_at": "2026-11-29T16:00:00.000Z",
    "result_code": None,
    "result_desc": None,
    "receipt_number": None,
    "tickets": [],
    "event": dict(CATALOGUE.events["demo-fest"].summary),
    "prompt_expires_at": "2026-11-29T16:01:00.000Z",
    "pushes": 1,
}
UPDATE = StatusUpdate.from_document(DOCUMENT)


class MsgspecCheckout(msgspec.Struct):
    event: str
    ticket_type: str
    email: str
    first_name: str
    last_name: str
    phone: str
    quantity: int | str = 1


class MsgspecEvent(msgspec.Struct):
    slug: str
    name: str
    starts_at: str
    ends_at: str
    timezone: str
    venue: str


class MsgspecOrderCreated(msgspec.Struct):
    order_id: str
    order_number: str
    payment_status: str
    amount: int
    currency: str
    version: int
    updated_at: str
    result_code: int | None
    result_desc: str | None
    receipt_number: str | None
    tickets: list[dict[str, Any]]
    event: MsgspecEvent | None
    prompt_expires_at: str | None
    pushes: int
    status_url: str = ""
    events_url: str = ""
    wait_url: str = ""


_CHECKOUT = msgspec.json.Decoder(MsgspecCheckout)
_DOCUMENT = msgspec.json.Decoder(MsgspecOrderCreated)
_ENCODER = msgspec.json.Encoder()


def parse_handwritten(raw: bytes) -> CheckoutRequest:
    return handwritten(json.loads(raw.decode("utf-8")), CATALOGUE)


def parse_pydantic(raw: bytes) -> CheckoutRequest:
    return validation.parse_checkout(json.loads(raw.decode("utf-8")), CATALOGUE)


def parse_msgspec(raw: bytes) -> CheckoutRequest:
    try:
        typed = _CHECKOUT.decode(raw)
    except msgspec.ValidationError as exc:  # the first bad field only, in msgspec's words
        raise CheckoutInvalid({"body": str(exc)}) from None
    # The page's messages, the catalogue and the phone: the hand-written checks again.
    return handwritten(msgspec.structs.asdict(typed), CATALOGUE)


def _urls(order_id: str) -> dict[str, str]:
    return {
        "status_url": f"/payment/{order_id}",
        "events_url": f"/api/orders/{order_id}/events",
        "wait_url": f"/api/orders/{order_id}/wait",
    }


def answer_handwritten() -> bytes:
    # As routes/checkout.py and Starlette's JSONResponse.render do it.
    body = {**UPDATE.document, **_urls(UPDATE.order_id)}
    return json.dumps(body, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode()


def answer_pydantic() -> bytes:
    created = OrderCreated.model_validate({**pydantic_core.from_json(UPDATE.json), **_urls(UPDATE.order_id)})
    return created.model_dump_json().encode()


def answer_msgspec() -> bytes:
    created = msgspec.structs.replace(_DOCUMENT.decode(UPDATE.json), **_urls(UPDATE.order_id))
    return _ENCODER.encode(created)


def refusing(parse: Callable[[bytes], CheckoutRequest]) -> Callable[[], None]:
    def run() -> None:
        try:
            parse(INVALID)
        except CheckoutInvalid:
            return
        raise AssertionError("the invalid body passed")

    return run


def microseconds(call: Callable[[], object], rounds: int = 7) -> float:
    timer = timeit.Timer(call)
    number, _ = timer.autorange()
    return statistics.median(t / number * 1e6 for t in timer.repeat(rounds, number))


def main() -> None:
    ways: dict[str, tuple[Callable[[bytes], CheckoutRequest], Callable[[], bytes]]] = {
        "hand-written": (parse_handwritten, answer_handwritten),
        f"pydantic {validation.pydantic_version()}": (parse_pydantic, answer_pydantic),
        f"msgspec {msgspec.__version__}": (parse_msgspec, answer_msgspec),
    }
    for parse, _ in ways.values():
        assert parse(VALID) == parse_handwritten(VALID)
    print(f"{'µs per checkout':<20}{'parse valid':>12}{'parse 4 bad':>12}{'201 answer':>12}")
    for name, (parse, answer) in ways.items():
        figures = (
            microseconds(partial(parse, VALID)),
            microseconds(refusing(parse)),
            microseconds(answer),
        )
        print(f"{name:<20}" + "".join(f"{figure:>12.1f}" for figure in figures))
    assert json.loads(order_json(UPDATE)) == json.loads(answer_handwritten())
    print(f"{'the route now':<20}{'':>24}{microseconds(partial(order_json, UPDATE)):>12.1f}")


if __name__ == "__main__":
    main()
