"""Which client address a request counts against, for the per-address limits."""

from __future__ import annotations

import ipaddress

from starlette.types import Scope

# One IPv6 customer, or one attacker, is handed a /64 (RFC 6177's smallest usual site
# prefix) and can pick any of its 2**64 addresses for each request.
IPV6_PREFIX = 64


def client_key(host: str) -> str:
    """The key a client address is counted under: IPv4 as it is, IPv6 by its /64."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host  # not an address (a test client's name, a socket path): as it is
    if isinstance(address, ipaddress.IPv4Address):
        return str(address)
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(ipaddress.IPv6Network((address, IPV6_PREFIX), strict=False))


def scope_client_key(scope: Scope) -> str | None:
    """The key of the address uvicorn (and the proxy-headers resolution) gave this request;
    None when there is none (a Unix socket)."""
    client = scope.get("client")
    return client_key(client[0]) if client else None
