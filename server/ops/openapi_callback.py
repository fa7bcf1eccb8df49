"""PayHero's two callback shapes, written as JSON Schema by hand.

Not a model: server/payhero/callback_parser.py parses them strictly by hand (a ResultCode as a
number or a numeric string, references that must be non-empty text, a status that is a
boolean or one of a few words), and a model loose enough to take both shapes would accept
what that parser refuses. These schemas only tell PayHero's integrators what arrives.
"""

from __future__ import annotations

from server.json_types import JSONObject
from server.ops.openapi_parts import ref

_NUMBER_OR_TEXT: JSONObject = {"description": "Number or numeric string."}

FLAT: JSONObject = {
    "type": "object",
    "description": "PayHero API 2.0's flat result callback (docs/PAYHERO.md).",
    "required": ["external_reference"],
    "properties": {
        "success": {"type": "boolean"},
        "status": {"type": "string", "description": "`success` or `failed`."},
        "message": {"type": "string", "description": "M-PESA's words; a failure is mapped by them."},
        "reference": {"type": "string", "description": "PayHero's reference of the push."},
        "external_reference": {"type": "string", "description": "Our order number."},
        "amount": _NUMBER_OR_TEXT,
        "provider_reference": {"type": "string", "description": "The M-PESA receipt on success."},
    },
}

V2: JSONObject = {
    "type": "object",
    "description": "PayHero's v2 callback (docs/PAYHERO.md). Anything else is a 400.",
    "required": ["response"],
    "properties": {
        "status": {"description": "A boolean, or a success/failure word."},
        "forward_url": {"type": "string"},
        "response": {
            "type": "object",
            "required": ["ResultCode", "ExternalReference", "CheckoutRequestID"],
            "properties": {
                "ResultCode": {"description": "0 paid; M-PESA's codes otherwise. Number or numeric string."},
                "ResultDesc": {"type": "string"},
                "ExternalReference": {"type": "string"},
                "CheckoutRequestID": {"type": "string"},
                "MpesaReceiptNumber": {"type": "string"},
                "Amount": _NUMBER_OR_TEXT,
                "Phone": {"type": "string"},
                "Status": {"type": "string"},
            },
        },
    },
}

CALLBACK_SCHEMAS: JSONObject = {
    "PayHeroCallback": {"oneOf": [ref("PayHeroCallbackV2"), ref("PayHeroCallbackFlat")]},
    "PayHeroCallbackFlat": FLAT,
    "PayHeroCallbackV2": V2,
}
