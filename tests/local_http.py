"""httpx clients for the services the tests start on 127.0.0.1, over plain HTTP.

httpx builds a TLS context for every client it makes, loading the CA bundle again: 21 ms of
CPU each time, and the suite makes over a thousand (py-spy put a tenth of the test workers'
CPU there). These clients never speak TLS; they use the process's one context, the one the
service's own clients share (`server.payhero.client.shared_tls_context`), made once.
"""

from __future__ import annotations

from typing import Any

import httpx

from server.payhero.client import shared_tls_context


def local_client(base_url: str = "", **options: Any) -> httpx.AsyncClient:
    """`httpx.AsyncClient(base_url=..., **options)` without a TLS context of its own."""
    return httpx.AsyncClient(base_url=base_url, verify=shared_tls_context(), **options)


def local_sync_client(base_url: str = "", **options: Any) -> httpx.Client:
    """`httpx.Client(base_url=..., **options)` without a TLS context of its own."""
    return httpx.Client(base_url=base_url, verify=shared_tls_context(), **options)


def local_get(url: str, **options: Any) -> httpx.Response:
    """`httpx.get(url, **options)` without a TLS context of its own (polling loops call it often)."""
    return httpx.get(url, verify=shared_tls_context(), **options)


def local_post(url: str, **options: Any) -> httpx.Response:
    """`httpx.post(url, **options)` without a TLS context of its own."""
    return httpx.post(url, verify=shared_tls_context(), **options)
