"""Bodies outside the status document: errors, the catalogue, the gate, ops, PayHero's ack."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Error(BaseModel):
    """Every refusal: a stable code and human text; some add keys (`limit`, `retry_after`)."""

    model_config = ConfigDict(extra="allow")
    error: str = Field(description="A stable code, e.g. `order_not_found`.")
    message: str = Field(description="Human text.")
    fields: dict[str, str] = Field(
        default_factory=dict, description="`validation_error`: each bad field and what it must be."
    )


class TicketTypeListing(BaseModel):
    slug: str
    name: str
    price: int
    currency: str
    available: int = Field(ge=0)


class EventListing(BaseModel):
    """An event as `GET /api/events` lists it (`server/catalogue.py`, `EventListed`)."""

    slug: str
    name: str
    starts_at: str = Field(description="ISO 8601 with the event's own offset.")
    timezone: str = Field(description="IANA name of the venue's clock, e.g. `Africa/Nairobi`.")
    venue: str
    ends_at: str = Field(description="ISO 8601; the start when the catalogue names no end.")
    sales_end: str = Field(description="ISO 8601; checkout is refused from then on.")
    on_sale: bool = Field(description="False once `sales_end` has passed.")
    ticket_types: list[TicketTypeListing]


class Named(BaseModel):
    slug: str
    name: str


class GateEventClock(BaseModel):
    """A ticket's event as the gate shows it: times in the event's own timezone."""

    slug: str
    name: str
    timezone: str = Field(description="IANA name of the venue's clock, e.g. `Africa/Nairobi`.")
    starts_at: str
    ends_at: str | None


class OrderCount(BaseModel):
    admitted: int = Field(ge=0, description="Tickets of this ticket's order already checked in.")
    tickets: int = Field(ge=1, description="Paid tickets in the order.")


class TicketCheck(BaseModel):
    """What the gate learns of a genuine code: the event and type, never the buyer."""

    genuine: bool = Field(json_schema_extra={"enum": [True]})
    ticket_id: str
    event: GateEventClock
    ticket_type: Named
    checked_in: bool
    checked_in_at: str | None
    checked_in_gate: str | None = Field(description="The door that checked it in, as named there.")
    order: OrderCount
    event_over: bool = Field(description="Past the event's end plus GATE_GRACE_AFTER_END.")


class GateEvent(BaseModel):
    slug: str
    name: str
    timezone: str
    starts_at: str
    ends_at: str | None
    closes_at: str | None = Field(description="When check-in stops: `ends_at` plus the grace.")
    over: bool


class GateSession(BaseModel):
    """`GET /api/gate/session`: the token is good; the events the gate admits to."""

    ok: bool = Field(json_schema_extra={"enum": [True]})
    events: list[GateEvent]


class TypeAdmitted(BaseModel):
    slug: str
    name: str
    admitted: int = Field(ge=0)
    tickets: int = Field(ge=0)


class AdmittedCount(BaseModel):
    """`GET /api/gate/events/{event_slug}/admitted` (and each event of its stream): who is in."""

    event: str
    admitted: int = Field(ge=0, description="Paid tickets checked in.")
    tickets: int = Field(ge=0, description="Paid tickets.")
    types: list[TypeAdmitted]
    counted_at: str = Field(description="When this process counted (or heard) it, ISO 8601 UTC.")
    doubles: int = Field(ge=0, description="Tickets let in twice (by gates that were offline).")


class CodeBody(BaseModel):
    """`POST /api/tickets/check-in`."""

    code: str = Field(
        min_length=1,
        description="The long code of the QR, or the short code (`ABCDE-FGHJK-M`), with any "
        "spaces, dashes, line breaks, case or trailing punctuation.",
    )
    gate: str | None = Field(
        default=None, min_length=1, max_length=40, description="The door's name, recorded with the check-in."
    )


class LostTicketsBody(BaseModel):
    """`POST /api/tickets/lost`: who lost their tickets, and the language for the e-mail."""

    contact: str = Field(
        max_length=254,
        description="The e-mail address or Kenyan phone number (07…, 2547…, +2547…) they were bought with.",
        examples=["amina@example.com", "0712345678"],
    )
    language: Literal["en", "sw"] = Field(default="en", description="The e-mail's language.")


class LostTicketsAccepted(BaseModel):
    """The one answer to a well-formed ask, whether or not anything was found."""

    status: Literal["accepted"]
    message: str


class Ready(BaseModel):
    status: str = Field(json_schema_extra={"enum": ["ok", "degraded"]})
    database: str = Field(json_schema_extra={"enum": ["ok", "unavailable"]})
    store: str = Field(json_schema_extra={"enum": ["sqlite", "postgresql"]})
    broker: str = Field(json_schema_extra={"enum": ["ok", "degraded"]})
    broker_kind: str = Field(json_schema_extra={"enum": ["memory", "redis", "redis-cluster", "postgres"]})
    untrusted_forwarded: int = Field(
        default=0,
        description="Requests whose X-Forwarded-For came from a peer FORWARDED_ALLOW_IPS does not "
        "trust (ignored).",
    )
    process: int = Field(
        default=0, description="The answering worker's process id (each worker has its own waiters)."
    )


class Alive(BaseModel):
    status: str


class CallbackAck(BaseModel):
    ok: bool = Field(json_schema_extra={"enum": [True]})
    order_id: str | None = None
    payment_status: str | None = None
    ignored: str = Field(default="", description="Why a failure changed nothing (no money in it).")
    review: str = Field(
        default="", description="Why a success was not applied: held for a person (docs/OPERATIONS.md)."
    )
