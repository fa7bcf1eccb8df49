"""Checkout input: every field checked, Kenyan phone numbers normalised to 2547…/2541…."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from server.catalogue import Catalogue

MAX_QUANTITY = 10
_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
_NAME = re.compile(r"^[^\W\d_](?:[^\W\d_]|[ '\u2019.-])*$")
# Safaricom and Airtel mobile ranges: 07XXXXXXXX and 01XXXXXXXX, in every common form.
# ASCII digits only: `\d` alone takes Arabic-Indic and other digits, which PayHero cannot
# dial and which would give one phone many spellings (and many push-limit keys).
_PHONE = re.compile(r"^(?:\+?254|0)?([17]\d{8})$", re.ASCII)


class CheckoutInvalid(ValueError):
    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields


@dataclass(frozen=True)
class CheckoutRequest:
    event: str
    ticket_type: str
    quantity: int
    email: str
    first_name: str
    last_name: str
    phone: str  # normalised: 2547XXXXXXXX or 2541XXXXXXXX


def normalise_phone(raw: str) -> str | None:
    compact = re.sub(r"[\s\-().]", "", raw)
    match = _PHONE.match(compact)
    return f"254{match.group(1)}" if match else None


def _text(body: dict[str, Any], name: str, errors: dict[str, str]) -> str:
    value = body.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        errors[name] = "is required"
        return ""
    if not isinstance(value, str):
        errors[name] = "must be text"
        return ""
    return value.strip()


def parse_checkout(body: Any, catalogue: Catalogue) -> CheckoutRequest:
    """A valid `CheckoutRequest`, or `CheckoutInvalid` naming every bad field."""
    if not isinstance(body, dict):
        raise CheckoutInvalid({"body": "must be a JSON object"})
    errors: dict[str, str] = {}

    event = _text(body, "event", errors)
    ticket_type = _text(body, "ticket_type", errors)
    if event and event not in catalogue.events:
        errors["event"] = "is not an event on sale"
    elif event and ticket_type and catalogue.find(event, ticket_type) is None:
        errors["ticket_type"] = "is not a ticket type of this event"

    raw_quantity = body.get("quantity", 1)
    quantity = 0
    if isinstance(raw_quantity, bool) or not isinstance(raw_quantity, int | str):
        errors["quantity"] = f"must be a whole number from 1 to {MAX_QUANTITY}"
    else:
        text = str(raw_quantity).strip()
        quantity = int(text) if text.isascii() and text.isdigit() and len(text) <= 3 else 0
        if not 1 <= quantity <= MAX_QUANTITY:
            errors["quantity"] = f"must be a whole number from 1 to {MAX_QUANTITY}"

    email = _text(body, "email", errors).lower()
    if email and (len(email) > 254 or not _EMAIL.match(email)):
        errors["email"] = "is not a valid e-mail address"

    names = {}
    for field in ("first_name", "last_name"):
        value = _text(body, field, errors)
        if value and (len(value) > 100 or not _NAME.match(value)):
            errors[field] = "must be letters, spaces, hyphens or apostrophes (at most 100)"
        names[field] = value

    phone_raw = _text(body, "phone", errors)
    phone = normalise_phone(phone_raw) if phone_raw else None
    if phone_raw and phone is None:
        errors["phone"] = "must be a Kenyan mobile number such as 0712345678 or +254712345678"

    if errors:
        raise CheckoutInvalid(errors)
    assert phone is not None
    return CheckoutRequest(
        event=event,
        ticket_type=ticket_type,
        quantity=quantity,
        email=email,
        first_name=names["first_name"],
        last_name=names["last_name"],
        phone=phone,
    )
