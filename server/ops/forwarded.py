"""Who the client is, behind proxies: `X-Forwarded-For` from trusted peers, resolved here.

uvicorn's `--proxy-headers` trusted only `FORWARDED_ALLOW_IPS`, default 127.0.0.1. Behind
a platform router, which connects from a private address, every customer then arrived as
the router, and the per-address push limit (20 in 10 minutes) was one allowance for the
whole site (issue 15). Here the default trusts loopback and the private ranges, as Rails'
remote-IP does: the client is the right-most hop that is not a trusted proxy, the address
the nearest untrusted party connected from. Hops a client writes itself sit to the left of
it and are never believed. `FORWARDED_ALLOW_IPS` still overrides the list; forwarded
headers from a peer it does not trust are ignored, counted (`/readyz`) and logged once.

The Procfile runs uvicorn with `--no-proxy-headers`, so this is the only resolution.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Awaitable

from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger("server.forwarded")

_SCHEMES = {"http", "https"}

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    def __init__(self, entries: tuple[str, ...]) -> None:
        self.everyone = "*" in entries
        self.networks: list[Network] = []
        self.literals: set[str] = set()
        for entry in entries:
            if entry == "*":
                continue
            if entry.startswith(("/", "unix:")):
                self.literals.add(entry)
            else:
                self.networks.append(ipaddress.ip_network(entry, strict=False))

    def __contains__(self, host: str) -> bool:
        if self.everyone or host in self.literals:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)

    def client_in(self, forwarded_for: str) -> str | None:
        """The right-most hop that is not a trusted proxy; the left-most if all are.

        Only an IP address is a client (issue 24): a hop that is none (`unknown`, a name,
        garbage a client typed) ends the walk, and the request stays the peer's, so made-up
        values never buy separate allowances. Addresses come back in one spelling.
        """
        hops = [_host_of(hop.strip()) for hop in forwarded_for.split(",") if hop.strip()]
        addresses: list[str] = []
        for hop in reversed(hops):
            address = _address(hop)
            if address is None:
                return None
            if address not in self:
                return address
            addresses.append(address)
        return addresses[-1] if addresses else None


def _address(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def _host_of(hop: str) -> str:
    """`1.2.3.4:5678` and `[2001:db8::1]:5678` (some proxies add the port) to the address."""
    if hop.startswith("["):
        return hop[1:].partition("]")[0]
    if hop.count(":") == 1:
        return hop.partition(":")[0]
    return hop


class UntrustedForwarding:
    """Forwarded headers that came from a peer FORWARDED_ALLOW_IPS does not trust."""

    def __init__(self) -> None:
        self.requests = 0
        self.last_peer: str | None = None

    def seen(self, peer: str) -> None:
        self.requests += 1
        self.last_peer = peer
        if self.requests == 1:
            log.warning(
                "X-Forwarded-For/-Proto came from %s, which FORWARDED_ALLOW_IPS does not trust: "
                "ignored, so requests through it count as that one address (push limits, "
                "waiter caps). If it is your proxy, add its address or network to "
                "FORWARDED_ALLOW_IPS. Logged once; /readyz counts them.",
                peer,
            )


class ForwardedHeaders:
    """Pure ASGI: rewrites the scope's client (and scheme) from trusted proxies' headers.

    `__call__` returns the inner app's awaitable: no frame of its own for a held request.
    """

    def __init__(self, app: ASGIApp, trusted: TrustedProxies, untrusted: UntrustedForwarding) -> None:
        self.app = app
        self.trusted = trusted
        self.untrusted = untrusted

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] == "http" and scope.get("client"):
            self._resolve(scope)
        return self.app(scope, receive, send)

    def _resolve(self, scope: Scope) -> None:
        forwarded: list[bytes] = []
        proto: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"x-forwarded-for":
                forwarded.append(value)
            elif name == b"x-forwarded-proto":
                proto = value
        if not forwarded and proto is None:
            return
        peer, port = scope["client"]
        if peer not in self.trusted:
            # Port 0: an outer proxy-headers layer (uvicorn's own, if a command line left
            # it on) has already put the resolved client here; that is not a peer.
            if port != 0:
                self.untrusted.seen(peer)
            return
        if forwarded:
            client = self.trusted.client_in(b",".join(forwarded).decode("latin-1"))
            if client:
                scope["client"] = (client, 0)
        if proto is not None:
            scheme = proto.decode("latin-1").rsplit(",", 1)[-1].strip().lower()
            if scheme in _SCHEMES:
                scope["scheme"] = scheme
