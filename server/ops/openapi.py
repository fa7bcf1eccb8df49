"""The OpenAPI 3.1 description served at `/openapi.json`.

The bodies come from the models (server/schemas/, and the checkout's in
server/orders/validation.py, which also validates with it): pydantic writes JSON Schema
2020-12, the dialect of OpenAPI 3.1, so `null` is a type and nothing is restated here.
What a model cannot say (status codes, headers, the stream's contract: versions as
cursors, a stream that ends by itself, 204 for a finished stream) is worded beside the
routes' paths in openapi_orders.py and openapi_site.py. schemathesis fuzzes the service
against exactly this, and tests/test_openapi.py fails when a route is not described.
"""

from __future__ import annotations

import json
from functools import cache
from typing import TYPE_CHECKING

from server.json_types import JSONObject
from server.ops.openapi_callback import CALLBACK_SCHEMAS
from server.ops.openapi_desk import DESK_PATHS
from server.ops.openapi_orders import ORDER_PATHS
from server.ops.openapi_parts import REF
from server.ops.openapi_site import OPS_PATHS, PAGE_PATHS, TICKET_PATHS

if TYPE_CHECKING:
    from pydantic import BaseModel
    from pydantic.json_schema import JsonSchemaMode

OPENAPI_VERSION = "3.1.0"
PATHS: JSONObject = {**PAGE_PATHS, **TICKET_PATHS, **OPS_PATHS, **ORDER_PATHS, **DESK_PATHS}


def models() -> list[tuple[type[BaseModel], JsonSchemaMode]]:
    """The models whose schemas are the document's components. Request bodies are described
    as they are validated (the checkout's quantity: a number or its text); answers as they
    are written."""
    # Imported here, when the document is first built, not when the service starts: the
    # answers' models (server/schemas/) are used by nothing else, and building them cost
    # every service and command start ~17 ms of CPU for a document few of them serve.
    from server import schemas
    from server.orders.validation import CheckoutBody

    requests: tuple[type[BaseModel], ...] = (CheckoutBody, schemas.CodeBody, schemas.LostTicketsBody)
    answers: tuple[type[BaseModel], ...] = (
        schemas.Error,
        schemas.StatusDocument,
        schemas.OrderCreated,
        schemas.PushFailed,
        schemas.WaitResult,
        schemas.StatusEvent,
        schemas.EventListing,
        schemas.TicketCheck,
        schemas.GateSession,
        schemas.AdmittedCount,
        schemas.Ready,
        schemas.Alive,
        schemas.CallbackAck,
        schemas.LostTicketsAccepted,
    )
    return [(model, "validation") for model in requests] + [(model, "serialization") for model in answers]


def component_schemas() -> JSONObject:
    # Here too: a command that validates no checkout (`migrate`, `backup`) loads no pydantic.
    from pydantic.json_schema import models_json_schema

    _, top = models_json_schema(models(), ref_template=REF + "{model}")
    return {**top["$defs"], **CALLBACK_SCHEMAS}


def openapi_document() -> JSONObject:
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "payment-status",
            "version": "0.1.0",
            "description": "M-PESA (PayHero) payment status: checkout, status document, long poll and SSE. "
            "Every error is JSON `{error, message, ...}`.",
        },
        "servers": [{"url": "/"}],
        "paths": PATHS,
        "components": {
            "schemas": component_schemas(),
            "securitySchemes": {
                "metricsToken": {"type": "http", "scheme": "bearer"},
                "gateToken": {"type": "http", "scheme": "bearer"},
                "deskToken": {"type": "http", "scheme": "bearer"},
            },
        },
    }


@cache
def openapi_json() -> bytes:
    """The description as served: built and encoded once per process."""
    return json.dumps(openapi_document(), separators=(",", ":")).encode()
