"""Pieces every part of `/openapi.json` uses: references, JSON answers, the common refusals."""

from __future__ import annotations

from server.json_types import JSONObject, JSONValue

JSON = "application/json"
REF = "#/components/schemas/"


def ref(name: str) -> JSONObject:
    return {"$ref": REF + name}


def json_answer(schema: JSONObject | str, description: str, **extra: JSONValue) -> JSONObject:
    """A JSON response; `schema` is a component's name or a schema."""
    body = ref(schema) if isinstance(schema, str) else schema
    return {"description": description, "content": {JSON: {"schema": body}}, **extra}


def error(description: str, **extra: JSONValue) -> JSONObject:
    return json_answer("Error", description, **extra)


RETRY_AFTER: JSONObject = {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}}
HEADERS_TOO_LARGE: JSONObject = error("The request headers are larger than 16 KiB.")
UNAVAILABLE: JSONObject = error(
    "The database cannot be reached just now; try again after Retry-After.",
    headers={"Retry-After": {"schema": {"type": "integer"}}},
)
TOO_MANY_WAITERS: JSONObject = error(
    "This address holds MAX_WAITERS_PER_CLIENT waiters already (`too_many_waiters`).",
    headers=RETRY_AFTER,
)
NOT_JSON: JSONObject = error("The body is not sent as `Content-Type: application/json`; nothing changed.")
NO_STORE: JSONObject = {"Cache-Control": {"schema": {"type": "string", "enum": ["no-store"]}}}
CACHE_HEADERS: JSONObject = {
    "ETag": {"schema": {"type": "string"}},
    "Cache-Control": {"schema": {"type": "string"}},
}
BINARY: JSONObject = {"type": "string", "format": "binary"}
ORDER_ID: JSONObject = {
    "name": "order_id",
    "in": "path",
    "required": True,
    "description": "The order id from the checkout's answer. Anything not shaped like one is a 404.",
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
}


def body(schema: str, *, required: bool = True) -> JSONObject:
    return {"required": required, "content": {JSON: {"schema": ref(schema)}}}
