"""Which client address a request counts against, for the per-address limits."""

from __future__ import annotations

from starlette.types import Scope


def client_key(host: str) -> str:
    """The key a client address is counted under."""
    return host


def scope_client_key(scope: Scope) -> str | None:
    """The key of the address uvicorn (and the proxy-headers resolution) gave this request;
    None when there is none (a Unix socket)."""
    client = scope.get("client")
    return client_key(client[0]) if client else None
