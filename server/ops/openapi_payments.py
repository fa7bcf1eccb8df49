"""The OpenAPI entries of a waiting customer's two actions and of PayHero's flat callback.

Kept beside `openapi.py` (which merges them) so that module does not grow past its size.
"""

from __future__ import annotations

from typing import Any

JSON = "application/json"
REF = "#/components/schemas/"

_RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}}


def _json(schema: str, description: str, **extra: Any) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": {"$ref": REF + schema}}}, **extra}


# No body, or `{}`: the route needs only the order id.
_EMPTY_BODY = {
    "required": False,
    "content": {JSON: {"schema": {"type": "object", "maxProperties": 0, "additionalProperties": False}}},
}

_ORDER_ID = {"name": "order_id", "in": "path", "required": True, "schema": {"type": "string"}}

_COMMON = {
    "400": _json("Error", "A body that is not UTF-8 JSON."),
    "404": _json("Error", "No order has this id."),
    "409": _json("Error", "`order_final`: the order is completed, failed, cancelled or expired."),
    "413": _json("Error", "A body past 1 KiB."),
    "415": _json("Error", "A body that is not application/json."),
    "422": _json("Error", "A JSON body with fields: these routes take none."),
    "431": _json("Error", "The request headers are larger than 16 KiB."),
    "503": _json("Error", "The database cannot be reached just now; try again after Retry-After."),
}

PAYMENT_PATHS: dict[str, Any] = {
    "/api/orders/{order_id}/push": {
        "post": {
            "summary": "Send the STK push again to the order's own phone once the prompt's window is over.",
            "parameters": [_ORDER_ID],
            "tags": ["status"],
            "requestBody": _EMPTY_BODY,
            "responses": {
                "202": _json(
                    "StatusDocument",
                    "Sent: `processing`, `pushes` + 1, a new `prompt_expires_at`. "
                    "`push_outcome: unknown` when PayHero's answer was lost (the prompt may still come).",
                ),
                **_COMMON,
                "409": _json(
                    "Error",
                    "`order_final`, or `prompt_open` (with `retry_after` and Retry-After) while the "
                    "last prompt may still be on the phone.",
                ),
                "429": _json(
                    "Error", "`push_limited`: past a push limit (`limit`: phone or ip).", headers=_RETRY_AFTER
                ),
                "502": _json("PushFailed", "PayHero refused the push; the order is now failed."),
            },
        }
    },
    "/api/orders/{order_id}/cancel": {
        "post": {
            "summary": "Cancel an unpaid order. A payment that lands later still completes it.",
            "parameters": [_ORDER_ID],
            "tags": ["status"],
            "requestBody": _EMPTY_BODY,
            "responses": {"200": _json("StatusDocument", "Cancelled."), **_COMMON},
        }
    },
}

FLAT_CALLBACK: dict[str, Any] = {
    "type": "object",
    "description": "PayHero API 2.0's flat result callback (docs/PAYHERO.md).",
    "required": ["external_reference"],
    "properties": {
        "success": {"type": "boolean"},
        "status": {"type": "string", "description": "`success` or `failed`."},
        "message": {"type": "string", "description": "M-PESA's words; a failure is mapped by them."},
        "reference": {"type": "string", "description": "PayHero's reference of the push."},
        "external_reference": {"type": "string", "description": "Our order number."},
        "amount": {"description": "Number or numeric string."},
        "provider_reference": {"type": "string", "description": "The M-PESA receipt on success."},
    },
}
