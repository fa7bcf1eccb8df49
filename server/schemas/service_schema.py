"""Bodies outside the status document: errors, the catalogue, the gate, ops, PayHero's ack."""

from __future__ import annotations

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
    slug: str
    name: str
    starts_at: str
    timezone: str
    venue: str
    ticket_types: list[TicketTypeListing]


class Named(BaseModel):
    slug: str
    name: str


class TicketCheck(BaseModel):
    """What the gate learns of a genuine code: the event and type, never the buyer."""

    genuine: bool = Field(json_schema_extra={"enum": [True]})
    ticket_id: str
    event: Named
    ticket_type: Named
    checked_in: bool
    checked_in_at: str | None


class CodeBody(BaseModel):
    """`POST /api/tickets/check-in`."""

    code: str = Field(min_length=1)


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
