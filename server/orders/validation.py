"""Checkout input, declared once: `CheckoutBody` checks every field with the words the page
shows, and its JSON Schema is the `CheckoutBody` of `/openapi.json`.

Kenyan phone numbers are normalised to 2547…/2541…. The model reads the body that
`read_json_body` already decoded (its 400/413/415 stay there); each field's validator
raises the exact message, and `parse_checkout` turns pydantic's error list into the
field-level 422 (`fields`), every bad field at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import VERSION, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, ValidationInfo
from pydantic import field_validator as check
from pydantic_core import PydanticCustomError

from server.catalogue import Catalogue
from server.json_types import JSONValue
from server.languages import DEFAULT_LANGUAGE

MAX_QUANTITY = 10
EMAIL_PATTERN = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
NAME_PATTERN = re.compile(r"^[^\W\d_](?:[^\W\d_]|[ '\u2019.-])*$")
# Safaricom and Airtel mobile ranges: 07XXXXXXXX and 01XXXXXXXX, in every common form.
# ASCII digits only: `\d` alone takes Arabic-Indic and other digits, which PayHero cannot
# dial and which would give one phone many spellings (and many push-limit keys).
_PHONE = re.compile(r"^(?:\+?254|0)?([17]\d{8})$", re.ASCII)

REQUIRED = "is required"
QUANTITY_MESSAGE = f"must be a whole number from 1 to {MAX_QUANTITY}"
NAME_MESSAGE = "must be letters, spaces, hyphens or apostrophes (at most 100)"
PHONE_MESSAGE = "must be a Kenyan mobile number such as 0712345678 or +254712345678"
# What a quantity given as text may look like: 1 to 10 once stripped, at most three digits.
QUANTITY_TEXT = r"^\s*(?:0{0,2}[1-9]|0?10)\s*$"


class CheckoutInvalid(ValueError):
    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields


@dataclass(frozen=True)
class CheckoutRequest:
    """A checked checkout: what the domain (seats, push limits, the push) works with."""

    event: str
    ticket_type: str
    quantity: int
    email: str
    first_name: str
    last_name: str
    phone: str  # normalised: 2547XXXXXXXX or 2541XXXXXXXX
    # The customer saw "You already have tickets for this event" and chose to buy more.
    confirm_repeat: bool = False
    # The language the page was read in: the order's e-mails are written in it.
    language: str = DEFAULT_LANGUAGE


def normalise_phone(raw: str) -> str | None:
    compact = re.sub(r"[\s\-().]", "", raw)
    match = _PHONE.match(compact)
    return f"254{match.group(1)}" if match else None


def _fail(message: str) -> PydanticCustomError:
    # The message is the page's text as is: no placeholders for pydantic to fill.
    return PydanticCustomError("checkout", message)


def _text(value: object) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise _fail(REQUIRED)
    if not isinstance(value, str):
        raise _fail("must be text")
    return value.strip()


def _quantity(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise _fail(QUANTITY_MESSAGE)
    text = str(value).strip()
    quantity = int(text) if text.isascii() and text.isdigit() and len(text) <= 3 else 0
    if not 1 <= quantity <= MAX_QUANTITY:
        raise _fail(QUANTITY_MESSAGE)
    return quantity


# A JSON string, stripped; None or blank is "is required".
Text = Annotated[str, BeforeValidator(_text, json_schema_input_type=str), Field(min_length=1)]
Quantity = Annotated[
    int,
    BeforeValidator(
        _quantity,
        json_schema_input_type=Annotated[int, Field(ge=1, le=MAX_QUANTITY)]
        | Annotated[str, Field(pattern=QUANTITY_TEXT)],
    ),
]


class CheckoutBody(BaseModel):
    """`POST /api/orders`. Unknown fields are ignored, as they always were."""

    model_config = ConfigDict(title="CheckoutRequest", frozen=True)

    event: Text = Field(examples=["demo-fest"])
    ticket_type: Text = Field(examples=["early-bird"])
    quantity: Quantity = Field(default=1, description='A number, or the same as text ("2").')
    email: Text = Field(json_schema_extra={"format": "email", "maxLength": 254})
    first_name: Text = Field(json_schema_extra={"maxLength": 100})
    last_name: Text = Field(json_schema_extra={"maxLength": 100})
    phone: Text = Field(
        description="07XXXXXXXX, 01XXXXXXXX, 2547XXXXXXXX or +2547XXXXXXXX (and 1 likewise).",
        examples=["0712345678"],
    )
    confirm_repeat: bool = Field(
        default=False,
        description="True after a `409 already_bought`: buy more tickets for an event already paid for.",
    )
    # server/languages.py's LANGUAGES, spelled out for the schema.
    language: Literal["en", "sw"] = Field(
        default="en",
        description="The language the page was read in (English or Kiswahili): its e-mails are in it.",
    )

    @check("event")
    @classmethod
    def _on_sale(cls, event: str, info: ValidationInfo) -> str:
        catalogue = _catalogue(info)
        if catalogue is not None and event not in catalogue.events:
            raise _fail("is not an event on sale")
        return event

    @check("ticket_type")
    @classmethod
    def _of_the_event(cls, ticket_type: str, info: ValidationInfo) -> str:
        catalogue, event = _catalogue(info), info.data.get("event")
        # Only once the event itself passed: a bad event is its own (single) error.
        if catalogue is not None and event and catalogue.find(event, ticket_type) is None:
            raise _fail("is not a ticket type of this event")
        return ticket_type

    @check("email")
    @classmethod
    def _email(cls, email: str) -> str:
        email = email.lower()
        if len(email) > 254 or not EMAIL_PATTERN.match(email):
            raise _fail("is not a valid e-mail address")
        return email

    @check("first_name", "last_name")
    @classmethod
    def _name(cls, name: str) -> str:
        if len(name) > 100 or not NAME_PATTERN.match(name):
            raise _fail(NAME_MESSAGE)
        return name

    @check("phone")
    @classmethod
    def _phone(cls, phone: str) -> str:
        normalised = normalise_phone(phone)
        if normalised is None:
            raise _fail(PHONE_MESSAGE)
        return normalised


def _catalogue(info: ValidationInfo) -> Catalogue | None:
    # Without a catalogue (the description, a benchmark) only the shape is checked.
    found = info.context.get("catalogue") if isinstance(info.context, dict) else None
    return found if isinstance(found, Catalogue) else None


def _fields(error: ValidationError) -> dict[str, str]:
    fields: dict[str, str] = {}
    for item in error.errors(include_url=False, include_input=False, include_context=False):
        name = str(item["loc"][0])
        fields.setdefault(name, REQUIRED if item["type"] == "missing" else item["msg"])
    return fields


def parse_checkout(body: JSONValue, catalogue: Catalogue) -> CheckoutRequest:
    """A valid `CheckoutRequest`, or `CheckoutInvalid` naming every bad field."""
    if not isinstance(body, dict):
        raise CheckoutInvalid({"body": "must be a JSON object"})
    try:
        checked = CheckoutBody.model_validate(body, context={"catalogue": catalogue})
    except ValidationError as exc:
        raise CheckoutInvalid(_fields(exc)) from None
    return CheckoutRequest(**checked.__dict__)


def pydantic_version() -> str:
    return VERSION
