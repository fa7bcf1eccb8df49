"""Parsing PayHero's callback strictly, while accepting what PayHero really sends.

Two shapes arrive on the same route (docs/PAYHERO.md): the v2 one, with everything inside
a `response` object and M-PESA's `ResultCode`, and API 2.0's flat one, with `status`
"success"/"failed", M-PESA's words in `message` and the receipt in `provider_reference`.
Integrations see `status` as a boolean and as a string, and `ResultCode` / `Amount` as
numbers and as numeric strings; anything else is rejected.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from server.json_types import JSONObject, JSONValue
from server.lifecycle import status_for_result_code

_REFERENCE = re.compile(r"^[A-Za-z0-9_\-:.]{1,64}$")
_RECEIPT = re.compile(r"^[A-Z0-9]{6,32}$")

# Codes and amounts are stored in 32-bit integer columns; anything wider is no PayHero value
# and would fail the UPDATE (a 500 after the body was stored) instead of being rejected here.
MAX_INTEGER = 2**31 - 1
# C0 controls other than tab and newlines, and DEL: PostgreSQL refuses NUL in text.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# The flat callback has no ResultCode: M-PESA's message says what happened. Known texts get
# the code M-PESA gives them elsewhere (the page words each code); others stay `failed`.
FLAT_MESSAGES: tuple[tuple[re.Pattern[str], int], ...] = (
    (re.compile(r"cancel", re.I), 1032),
    (re.compile(r"cannot be reached|unreachable|no response|timed? ?out|timeout", re.I), 1037),
    (re.compile(r"insufficient|balance", re.I), 1),
    (re.compile(r"\bpin\b|initiator information is invalid", re.I), 2001),
)


class CallbackInvalid(ValueError):
    """The body is not a PayHero callback; the message says which part is wrong."""


@dataclass(frozen=True, slots=True)
class PayHeroCallback:
    external_reference: str
    # v2 carries the push's CheckoutRequestID; the flat shape PayHero's `reference` instead.
    checkout_request_id: str | None
    result_code: int | None
    result_desc: str
    receipt_number: str | None
    amount: int | None
    status: bool | None
    reference: str | None = None
    shape: str = "v2"
    paid: bool | None = None

    @property
    def target_status(self) -> str:
        """0 paid; 1032/1031 cancelled; 1037/1019 expired; every other code failed."""
        return status_for_result_code(self.result_code, paid=self.paid)


def _integer(value: JSONValue, name: str) -> int:
    if isinstance(value, bool):
        raise CallbackInvalid(f"{name} must be a number")
    number: int | None = None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and re.fullmatch(r"-?\d{1,12}(\.0+)?", value.strip(), re.ASCII):
        number = int(float(value.strip()))
    if number is None:
        raise CallbackInvalid(f"{name} must be a whole number")
    if abs(number) > MAX_INTEGER:
        raise CallbackInvalid(f"{name} is out of range")
    return number


def _text(value: JSONValue, name: str) -> str:
    if not isinstance(value, str):
        raise CallbackInvalid(f"{name} must be text")
    try:
        # A lone surrogate (legal in JSON's \u escapes) cannot be stored as UTF-8.
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise CallbackInvalid(f"{name} is not valid Unicode text") from None
    return _CONTROL.sub(" ", value).strip()[:255]


def _status(value: JSONValue) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in {"true", "success", "successful", "1"}:
            return True
        if lowered in {"false", "failed", "failure", "0", "cancelled"}:
            return False
    raise CallbackInvalid("status must be a boolean or a success/failure word")


def _reference(response: JSONObject, name: str, where: str = "response.") -> str:
    value = response.get(name)
    if not isinstance(value, str) or not _REFERENCE.match(value.strip()):
        raise CallbackInvalid(f"{where}{name} is missing or malformed")
    return value.strip()


def _receipt(value: JSONValue, name: str) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str) or not _RECEIPT.match(value.strip()):
        raise CallbackInvalid(f"{name} is malformed")
    return value.strip()


def parse_callback(body: bytes) -> PayHeroCallback:
    """A PayHero callback body (v2's nested shape or API 2.0's flat one) as a PayHeroCallback;
    CallbackInvalid when it is not one."""
    try:
        data: JSONValue = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        # RecursionError: deeply nested brackets fit well inside the body size limit.
        raise CallbackInvalid("body is not JSON") from None
    if not isinstance(data, dict):
        raise CallbackInvalid("body is not a JSON object")
    if "response" not in data and "external_reference" in data:
        return _parse_flat(data)
    response = data.get("response")
    if not isinstance(response, dict):
        raise CallbackInvalid("body has no `response` object (v2) nor `external_reference` (API 2.0)")
    if "ResultCode" not in response:
        raise CallbackInvalid("response.ResultCode is missing")
    result_code = _integer(response["ResultCode"], "response.ResultCode")
    description = _text(response.get("ResultDesc", ""), "response.ResultDesc")
    amount = response.get("Amount")
    return PayHeroCallback(
        external_reference=_reference(response, "ExternalReference"),
        checkout_request_id=_reference(response, "CheckoutRequestID"),
        result_code=result_code,
        result_desc=description,
        receipt_number=_receipt(response.get("MpesaReceiptNumber"), "response.MpesaReceiptNumber"),
        amount=None if amount in (None, "") else _integer(amount, "response.Amount"),
        status=_status(data.get("status")),
    )


def _parse_flat(data: JSONObject) -> PayHeroCallback:
    """API 2.0's flat callback: `status` success/failed, M-PESA's words in `message`."""
    status = _status(data.get("status"))
    if status is None:
        status = _status(data.get("success"))
    if status is None:
        raise CallbackInvalid("status is missing")
    message = _text(data.get("message") or "", "message")
    code: int | None = 0 if status else None
    if not status:
        code = next((known for pattern, known in FLAT_MESSAGES if pattern.search(message)), None)
    reference = data.get("reference")
    amount = data.get("amount")
    return PayHeroCallback(
        external_reference=_reference(data, "external_reference", where=""),
        checkout_request_id=None,
        result_code=code,
        result_desc=message,
        receipt_number=_receipt(data.get("provider_reference"), "provider_reference"),
        amount=None if amount in (None, "") else _integer(amount, "amount"),
        status=status,
        reference=None if reference in (None, "") else _reference(data, "reference", where=""),
        shape="flat",
        paid=status,
    )
