"""Hypothesis on the PayHero callback parser: any bytes in, a callback or CallbackInvalid out.

The callback route stores a body, then parses it; anything the parser raises besides
CallbackInvalid is a 500 to PayHero (which retries) and a stored body left unmarked.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from server.lifecycle import CANCELLED, CANCELLED_CODES, COMPLETED, EXPIRED, EXPIRED_CODES, FAILED
from server.payhero.callback_parser import MAX_INTEGER, CallbackInvalid, PayHeroCallback, parse_callback

FIELDS = [
    "Amount",
    "CheckoutRequestID",
    "ExternalReference",
    "MerchantRequestID",
    "MpesaReceiptNumber",
    "Phone",
    "ResultCode",
    "ResultDesc",
    "Status",
]

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
    | st.sampled_from(["0", "1032", "-1", "1e5", "0.0", " 7 ", "", "true", "SUCCESS", "\ud800", "\x00"])
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
responses = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=12), json_values, max_size=10)
envelopes = st.fixed_dictionaries(
    {}, optional={"response": responses | json_values, "status": json_values, "forward_url": json_values}
)


def parse_or_invalid(body: bytes) -> PayHeroCallback | None:
    try:
        return parse_callback(body)
    except CallbackInvalid:
        return None


@FUZZ
@given(st.binary(max_size=512))
@example(b"[" * 50_000)
@example(b'{"response": ' + b"[" * 50_000)
@example(b"\xff\xfe{\x00}\x00")
@example(b'{"response": {"ResultCode": 1' + b"0" * 5000 + b"}}")
def test_any_bytes_give_a_callback_or_callback_invalid(body: bytes) -> None:
    parse_or_invalid(body)


@FUZZ
@given(envelopes)
def test_any_json_gives_a_callback_or_callback_invalid(envelope: dict[str, Any]) -> None:
    parsed = parse_or_invalid(json.dumps(envelope).encode())
    if parsed is not None:
        # Whatever got through fits the columns it is written to.
        assert abs(parsed.result_code) <= MAX_INTEGER
        assert parsed.amount is None or abs(parsed.amount) <= MAX_INTEGER
        assert len(parsed.result_desc) <= 255 and "\x00" not in parsed.result_desc
        parsed.result_desc.encode("utf-8")


references = st.from_regex(r"[A-Za-z0-9_\-:.]{1,64}", fullmatch=True)
receipts = st.from_regex(r"[A-Z0-9]{6,32}", fullmatch=True)
descriptions = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=255).map(str.strip)
codes = st.integers(min_value=-MAX_INTEGER, max_value=MAX_INTEGER)
statuses = st.sampled_from([True, False, None, "Success", "failed", "true", "0", "Cancelled"])


@FUZZ
@given(
    reference=references,
    checkout=references,
    code=codes,
    code_as_text=st.booleans(),
    description=descriptions,
    receipt=st.none() | receipts,
    amount=st.none() | st.integers(min_value=0, max_value=10**9),
    status=statuses,
)
def test_valid_callbacks_round_trip(
    reference: str,
    checkout: str,
    code: int,
    code_as_text: bool,
    description: str,
    receipt: str | None,
    amount: int | None,
    status: bool | str | None,
) -> None:
    response: dict[str, Any] = {
        "ExternalReference": reference,
        "CheckoutRequestID": checkout,
        # PayHero integrations see numbers and numeric strings alike.
        "ResultCode": str(code) if code_as_text and abs(code) < 10**12 else code,
        "ResultDesc": description,
        "MpesaReceiptNumber": receipt or "",
        "Amount": amount,
    }
    parsed = parse_callback(json.dumps({"response": response, "status": status}).encode())
    assert (parsed.external_reference, parsed.checkout_request_id) == (reference, checkout)
    assert (parsed.result_code, parsed.result_desc) == (code, description)
    assert (parsed.receipt_number, parsed.amount) == (receipt, amount)
    expected = (
        COMPLETED
        if code == 0
        else CANCELLED
        if code in CANCELLED_CODES
        else EXPIRED
        if code in EXPIRED_CODES
        else FAILED
    )
    assert parsed.target_status == expected


def test_the_documented_success_example_parses() -> None:
    body = {
        "forward_url": "",
        "response": {
            "Amount": 10,
            "CheckoutRequestID": "ws_CO_14012024103543427709099876",
            "ExternalReference": "INV-009",
            "MerchantRequestID": "3202-70921557-1",
            "MpesaReceiptNumber": "SAE3YULR0Y",
            "Phone": "+254709099876",
            "ResultCode": 0,
            "ResultDesc": "The service request is processed successfully.",
            "Status": "Success",
        },
        "status": True,
    }
    parsed = parse_callback(json.dumps(body).encode())
    assert parsed.target_status == COMPLETED and parsed.receipt_number == "SAE3YULR0Y"
