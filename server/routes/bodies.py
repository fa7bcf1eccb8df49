"""Reading request bodies with a hard size limit, before any of it is parsed."""

from __future__ import annotations

import json

from starlette.requests import Request

from server.errors import ApiError


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


def parse_json(raw: bytes) -> object:
    """The body as JSON, or a JSON 400. Strict UTF-8, as API.md says every body is."""
    try:
        # Decoded here rather than by json.loads(bytes), which also guesses UTF-16 and -32.
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        # The same code as for broken JSON: clients need not tell the two apart.
        raise ApiError(400, "invalid_json", "The body must be UTF-8 encoded JSON.") from None
    except (ValueError, RecursionError):
        # RecursionError: a few thousand nested brackets fit well inside the size limit.
        raise ApiError(400, "invalid_json", "The body must be a JSON object.") from None


NO_BODY_LIMIT = 1024


async def read_no_body(request: Request) -> None:
    """For routes that take nothing: no body, or an empty JSON object, and nothing else.

    A body of another type is a 415 (a cross-site form post cannot pass as JSON); a JSON
    body with fields is a 422, so a client that thinks it can name, say, a phone learns it
    cannot.
    """
    raw = await read_body(request, NO_BODY_LIMIT)
    if not raw.strip():
        return
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise ApiError(
            415, "unsupported_media_type", "Send no body, or an empty JSON object as application/json."
        )
    if parse_json(raw) != {}:
        raise ApiError(422, "validation_error", "This request takes no fields.", fields={})
