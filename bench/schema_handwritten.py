"""The checkout parser as it was hand-written before the model layer: the baseline of
`bench.schema_cost`, and (via msgspec_checks) the checks a msgspec Struct cannot say."""

from __future__ import annotations

from typing import Any

from server.catalogue import Catalogue
from server.orders.validation import (
    EMAIL_PATTERN,
    MAX_QUANTITY,
    NAME_MESSAGE,
    NAME_PATTERN,
    PHONE_MESSAGE,
    REQUIRED,
    CheckoutInvalid,
    CheckoutRequest,
    normalise_phone,
)


def _text(body: dict[str, Any], name: str, errors: dict[str, str]) -> str:
    value = body.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        errors[name] = REQUIRED
        return ""
    if not isinstance(value, str):
        errors[name] = "must be text"
        return ""
    return value.strip()


def parse_checkout(body: Any, catalogue: Catalogue) -> CheckoutRequest:
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
    if email and (len(email) > 254 or not EMAIL_PATTERN.match(email)):
        errors["email"] = "is not a valid e-mail address"
    names = {}
    for field in ("first_name", "last_name"):
        value = _text(body, field, errors)
        if value and (len(value) > 100 or not NAME_PATTERN.match(value)):
            errors[field] = NAME_MESSAGE
        names[field] = value
    phone_raw = _text(body, "phone", errors)
    phone = normalise_phone(phone_raw) if phone_raw else None
    if phone_raw and phone is None:
        errors["phone"] = PHONE_MESSAGE
    if errors:
        raise CheckoutInvalid(errors)
    assert phone is not None
    return CheckoutRequest(
        event, ticket_type, quantity, email, names["first_name"], names["last_name"], phone
    )
