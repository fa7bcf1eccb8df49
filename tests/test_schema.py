"""One declaration for the HTTP bodies: `/openapi.json` is valid OpenAPI 3.1 built from the
models, and the checkout's model gives the page's words for every bad field at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator

from server.catalogue import Catalogue
from server.ops.openapi import openapi_document
from server.orders.validation import CheckoutBody, CheckoutInvalid, CheckoutRequest, parse_checkout
from server.schemas.document_schema import StatusDocument
from server.status.document import DOCUMENT_FIELDS

CATALOGUE = Catalogue.load(Path(__file__).resolve().parent.parent / "server" / "data" / "catalogue.json")
GOOD = {
    "event": "demo-fest",
    "ticket_type": "early-bird",
    "email": "Amina@Example.com",
    "first_name": " Amina ",
    "last_name": "O'Neil-Otieno",
    "phone": "+254 712-345-678",
}
QUANTITY = "must be a whole number from 1 to 10"
NAME = "must be letters, spaces, hyphens or apostrophes (at most 100)"


def test_the_description_is_valid_openapi_3_1() -> None:
    document = openapi_document()
    assert document["openapi"] == "3.1.0"
    OpenAPIV31SpecValidator(document).validate()


def test_no_openapi_3_0_keywords_are_left() -> None:
    text = repr(openapi_document())
    assert "'nullable'" not in text and "'example'" not in text


def test_the_checkout_body_is_described_by_its_validating_model() -> None:
    schemas = openapi_document()["components"]["schemas"]
    checkout = schemas["CheckoutBody"]
    # Every field without a default (quantity, confirm_repeat and language have one).
    assert checkout["required"] == [
        name for name, field in CheckoutBody.model_fields.items() if field.is_required()
    ]
    assert "language" in checkout["properties"] and "language" not in checkout["required"]
    # The drift this replaced: a numeric string is accepted, so it is described.
    assert {"integer", "string"} == {option["type"] for option in checkout["properties"]["quantity"]["anyOf"]}
    assert set(schemas["StatusDocument"]["required"]) == {*DOCUMENT_FIELDS, "event"}
    assert set(StatusDocument.model_fields) == {*DOCUMENT_FIELDS, "event"}


def test_a_good_body_is_normalised() -> None:
    assert parse_checkout({**GOOD, "quantity": " 02 "}, CATALOGUE) == CheckoutRequest(
        "demo-fest", "early-bird", 2, "amina@example.com", "Amina", "O'Neil-Otieno", "254712345678"
    )


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"event": None, "phone": "   "}, {"event": "is required", "phone": "is required"}),
        ({"email": 5, "first_name": ["A"]}, {"email": "must be text", "first_name": "must be text"}),
        ({"event": "no-such-fest", "ticket_type": "vvip"}, {"event": "is not an event on sale"}),
        ({"ticket_type": "vvip"}, {"ticket_type": "is not a ticket type of this event"}),
        ({"quantity": True, "last_name": "R2D2"}, {"quantity": QUANTITY, "last_name": NAME}),
        ({"quantity": "0010"}, {"quantity": QUANTITY}),
        ({"quantity": 11, "email": "x@"}, {"quantity": QUANTITY, "email": "is not a valid e-mail address"}),
        (
            {"phone": "0812345678"},
            {"phone": "must be a Kenyan mobile number such as 0712345678 or +254712345678"},
        ),
    ],
)
def test_every_bad_field_is_named_with_the_pages_words(
    changes: dict[str, Any], fields: dict[str, str]
) -> None:
    with pytest.raises(CheckoutInvalid) as refused:
        parse_checkout({**GOOD, **changes}, CATALOGUE)
    assert refused.value.fields == fields


def test_missing_fields_are_required_and_a_non_object_is_refused() -> None:
    with pytest.raises(CheckoutInvalid) as refused:
        parse_checkout({"quantity": 2}, CATALOGUE)
    assert refused.value.fields == dict.fromkeys(
        ("event", "ticket_type", "email", "first_name", "last_name", "phone"), "is required"
    )
    with pytest.raises(CheckoutInvalid) as refused:
        parse_checkout([GOOD], CATALOGUE)
    assert refused.value.fields == {"body": "must be a JSON object"}
