"""PayHero's callbacks, parsed strictly but accepting what PayHero really sends."""

from __future__ import annotations

import json
from typing import Any

import pytest

from server.lifecycle import CANCELLED, COMPLETED, EXPIRED, FAILED
from server.payhero.callback_parser import CallbackInvalid, parse_callback
from tests.payhero_fixtures import SAMPLES, sample


@pytest.mark.parametrize(
    ("name", "status", "code"),
    [
        ("success.json", COMPLETED, 0),
        ("cancelled.json", CANCELLED, 1032),
        ("insufficient_funds.json", FAILED, 1),
        ("unreachable.json", EXPIRED, 1037),
        ("wrong_pin.json", FAILED, 2001),
    ],
)
def test_every_sample_maps_to_its_status(name: str, status: str, code: int) -> None:
    callback = parse_callback((SAMPLES / name).read_bytes())
    assert callback.target_status == status and callback.result_code == code
    assert callback.external_reference == "INV-009"
    assert callback.checkout_request_id == "ws_CO_14012024103543427709099876"
    assert callback.receipt_number == ("SAE3YULR0Y" if code == 0 else None)


def test_all_samples_are_covered() -> None:
    assert sorted(p.name for p in SAMPLES.glob("*.json")) == [
        "cancelled.json",
        "flat-cancelled.json",
        "flat-success.json",
        "insufficient_funds.json",
        "success.json",
        "unreachable.json",
        "wrong_pin.json",
    ]


@pytest.mark.parametrize(
    ("code", "status"), [(1031, CANCELLED), (1019, EXPIRED), (17, FAILED), (1001, FAILED)]
)
def test_other_result_codes(code: int, status: str) -> None:
    body = sample("cancelled.json")
    body["response"]["ResultCode"] = code
    assert parse_callback(json.dumps(body).encode()).target_status == status


@pytest.mark.parametrize("status", [True, "true", "Success", "SUCCESS"])
def test_status_as_boolean_or_string(status: Any) -> None:
    body = sample("success.json")
    body["status"] = status
    assert parse_callback(json.dumps(body).encode()).status is True


def test_numbers_as_numeric_strings() -> None:
    body = sample("success.json")
    body["response"]["ResultCode"] = "0"
    body["response"]["Amount"] = "10.00"
    callback = parse_callback(json.dumps(body).encode())
    assert callback.result_code == 0 and callback.amount == 10


def mutate(path: tuple[str, ...], value: Any) -> bytes:
    body = sample("success.json")
    target = body
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"\xff\xfe\x00",
        b"[]",
        b'{"response": []}',
        mutate(("response", "ResultCode"), KeyError),
        mutate(("response", "ResultCode"), True),
        mutate(("response", "ResultCode"), "zero"),
        mutate(("response", "ResultCode"), 1.5),
        mutate(("response", "ExternalReference"), KeyError),
        mutate(("response", "ExternalReference"), 42),
        mutate(("response", "ExternalReference"), "x" * 65),
        mutate(("response", "CheckoutRequestID"), ""),
        mutate(("response", "Amount"), "ten"),
        mutate(("response", "Amount"), {"value": 10}),
        mutate(("response", "MpesaReceiptNumber"), "<script>"),
        mutate(("response", "ResultDesc"), ["x"]),
        mutate(("status",), "maybe"),
    ],
)
def test_malformed_bodies_are_rejected(raw: bytes) -> None:
    with pytest.raises(CallbackInvalid):
        parse_callback(raw)


def test_the_flat_api_2_success_is_a_payment_with_its_receipt() -> None:
    callback = parse_callback((SAMPLES / "flat-success.json").read_bytes())
    assert callback.shape == "flat" and callback.target_status == COMPLETED
    assert callback.external_reference == "INV-009" and callback.reference == "QKX2041187.aB"
    assert callback.receipt_number == "TJE4QX1L2M" and callback.amount == 10
    assert callback.checkout_request_id is None and callback.result_code == 0


@pytest.mark.parametrize(
    ("message", "status", "code"),
    [
        ("Request Cancelled by user.", CANCELLED, 1032),
        ("DS timeout user cannot be reached", EXPIRED, 1037),
        ("No response from user.", EXPIRED, 1037),
        ("The balance is insufficient for the transaction.", FAILED, 1),
        ("The initiator information is invalid.", FAILED, 2001),
        ("System busy, try again", FAILED, None),
    ],
)
def test_a_flat_failure_is_mapped_by_its_message(message: str, status: str, code: int | None) -> None:
    body = sample("flat-cancelled.json")
    body["message"] = message
    callback = parse_callback(json.dumps(body).encode())
    assert (callback.target_status, callback.result_code) == (status, code)
    assert callback.result_desc == message and callback.receipt_number is None


@pytest.mark.parametrize(
    "change",
    [
        {"status": "maybe"},
        {"status": None, "success": None},
        {"external_reference": ""},
        {"external_reference": 7},
        {"reference": "has spaces in it"},
        {"amount": "ten"},
        {"provider_reference": "<script>"},
    ],
)
def test_malformed_flat_bodies_are_rejected(change: dict[str, Any]) -> None:
    body = {**sample("flat-success.json"), **change}
    with pytest.raises(CallbackInvalid):
        parse_callback(json.dumps(body).encode())
