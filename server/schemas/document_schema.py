"""The status document and the answers built from it (checkout, /wait, a failed push)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from server.lifecycle import STATUSES

# Extra keys are allowed in answers (e.g. the 202's `push_outcome`): clients ignore them.
_OPEN = ConfigDict(extra="allow")
_STATUSES: list[JsonValue] = [*sorted(STATUSES)]


class Ticket(BaseModel):
    model_config = _OPEN
    ticket_id: str
    ticket_type: str
    ticket_type_name: str = Field(description="The catalogue's name, e.g. Early Bird.")
    code: str
    short_code: str | None = Field(
        description="The code to type at the gate, `ABCDE-FGHJK-M` (Crockford base32 and a check character)."
    )
    qr_url: str
    share_url: str | None = Field(
        default=None,
        description="This ticket's own page, `/ticket/{share_id}`: the ticket only, to keep or give.",
    )
    card_url: str | None = Field(default=None, description="This ticket as a card image (PNG), to save.")


class EventSummary(BaseModel):
    """The order's event as the catalogue lists it (`Event.summary`)."""

    slug: str
    name: str
    starts_at: str = Field(description="ISO 8601.")
    timezone: str = Field(description="IANA, e.g. Africa/Nairobi.")
    venue: str
    ends_at: str = Field(description="ISO 8601; the start when the catalogue gives no end.")


class StatusDocument(BaseModel):
    """The one status shape. Carries no personal data."""

    model_config = _OPEN
    order_id: str = Field(description="Opaque, at least 128 random bits, URL-safe.")
    order_number: str
    payment_status: str = Field(json_schema_extra={"enum": _STATUSES})
    amount: int
    currency: str
    version: int = Field(ge=1, description="SSE event id and long-poll cursor.")
    updated_at: str
    result_code: int | None
    result_desc: str | None
    receipt_number: str | None
    tickets: list[Ticket]
    event: EventSummary | None = Field(description="Null when the catalogue no longer lists the event.")
    prompt_expires_at: str | None = Field(
        description="When the latest STK prompt's window ends; null before a push and once final."
    )
    pushes: int = Field(ge=0, description="STK pushes this order has had.")


class OrderCreated(StatusDocument):
    """The checkout's answer: the document and where to follow it."""

    status_url: str
    events_url: str
    wait_url: str


class PushFailed(StatusDocument):
    """PayHero refused the push: the order's document (now failed) and the error."""

    error: str
    message: str


class WaitResult(StatusDocument):
    timed_out: bool


class StatusEvent(BaseModel):
    """One `event: status` of the stream (after a `retry:` hint; comments keep it open)."""

    event: str = Field(json_schema_extra={"enum": ["status"]})
    id: str = Field(pattern="^[0-9]+$")
    data: str = Field(
        json_schema_extra={
            "contentMediaType": "application/json",
            "contentSchema": {"$ref": "#/components/schemas/StatusDocument"},
        }
    )
