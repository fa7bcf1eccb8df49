"""Reading request bodies: JSON only, with a hard size limit, before any of it is parsed."""

from __future__ import annotations

import json

from starlette.requests import Request

from server.http_errors import ApiError
from server.json_types import JSONValue

JSON_MEDIA_TYPE = "application/json"


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "payload_too_large", f"The body is larger than {limit} bytes.", limit=limit)


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    # Streamed with a running count: a missing or lying Content-Length cannot get past it.
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(raw: bytes) -> JSONValue:
    """The body as JSON, or a JSON 400. Strict UTF-8, as API.md says every body is."""
    try:
        # Decoded here rather than by json.loads(bytes), which also guesses UTF-16 and -32.
        body: JSONValue = json.loads(raw.decode("utf-8"))
        return body
    except UnicodeDecodeError:
        # The same code as for broken JSON: clients need not tell the two apart.
        raise ApiError(400, "invalid_json", "The body must be UTF-8 encoded JSON.") from None
    except (ValueError, RecursionError):
        # RecursionError: a few thousand nested brackets fit well inside the size limit.
        raise ApiError(400, "invalid_json", "The body must be a JSON object.") from None


def _declares_json(request: Request) -> bool:
    media_type, _, _ = request.headers.get("content-type", "").partition(";")
    return media_type.strip().lower() == JSON_MEDIA_TYPE


def _not_json() -> ApiError:
    return ApiError(
        415,
        "unsupported_media_type",
        f"The body must be sent as Content-Type: {JSON_MEDIA_TYPE}.",
        accepted=JSON_MEDIA_TYPE,
    )


async def read_json_body(request: Request, limit: int, *, optional: bool = False) -> JSONValue:
    """The request's JSON body; a JSON 415 unless it is declared `application/json`.

    A page on another site can post `text/plain`, form or empty-typed bodies to us without
    asking first; `application/json` makes the browser send a CORS preflight, which we
    refuse unless CORS_ORIGINS allows that site. So no route that acts on a body takes any
    other type. `optional`: no body at all is allowed too (whatever its type) and gives None.
    """
    if not optional and not _declares_json(request):
        raise _not_json()
    raw = await read_body(request, limit)
    if optional and not raw:
        return None
    if not _declares_json(request):
        raise _not_json()
    return parse_json(raw)


NO_BODY_LIMIT = 1024


async def read_no_body(request: Request) -> None:
    """For routes that take nothing: no body, or an empty JSON object, and nothing else.

    A body of another type is a 415 (a cross-site form post cannot pass as JSON); a JSON
    body with fields is a 422, so a client that thinks it can name, say, a phone learns it
    cannot.
    """
    body = await read_json_body(request, NO_BODY_LIMIT, optional=True)
    if body is not None and body != {}:
        raise ApiError(422, "validation_error", "This request takes no fields.", fields={})
