"""No cross-site actions: a browser on another site cannot change anything here (issue 24).

A page anywhere can make its visitors' browsers POST to us: a form, or `fetch` with a
"simple" body (`text/plain`, or none at all) needs no CORS preflight. JSON-only bodies
closed that for checkout, but `POST /api/orders/{id}/cancel` takes no body, and another
origin cancelled an order with it. So every state-changing request (POST, PUT, PATCH,
DELETE) is checked as a browser marks it:

- `Origin`, which browsers send on every cross-origin POST: it must be this site's own
  origin (the request's scheme and `Host`, or `PUBLIC_BASE_URL`'s) or one `CORS_ORIGINS`
  lists. `null` (a sandboxed frame, a `data:` page) is refused.
- `Sec-Fetch-Site`, where there is no `Origin`: `cross-site` and `same-site` are refused.

A request with neither header is not a browser's: a server (PayHero's webhook, which is
never checked at all), `curl`, a test. It passes. Refused: `403 cross_site_refused`.
"""

from __future__ import annotations

from collections.abc import Awaitable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from server.http_errors import error_response
from server.urls import CALLBACK

CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# PayHero's webhook: server to server, authenticated by the token in its path.
WEBHOOK_PREFIX = CALLBACK.partition("{")[0]
REFUSED_SITES = frozenset({b"cross-site", b"same-site"})


def origin_of(url: str) -> str | None:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else None


class CrossSiteGuard:
    """Pure ASGI: refuses a state-changing request a browser sent from another site."""

    def __init__(self, app: ASGIApp, allowed_origins: tuple[str, ...] = ()) -> None:
        self.app = app
        self.allowed = frozenset(filter(None, (origin_of(origin) for origin in allowed_origins)))

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] == "http" and scope["method"] in CHANGING and not self._allowed(scope):
            return error_response(
                403, "cross_site_refused", "This request came from another website and was refused."
            )(scope, receive, send)
        return self.app(scope, receive, send)

    def _allowed(self, scope: Scope) -> bool:
        if scope["path"].startswith(WEBHOOK_PREFIX):
            return True
        origin: bytes | None = None
        site: bytes | None = None
        host = b""
        for name, value in scope["headers"]:
            if name == b"origin":
                origin = value
            elif name == b"sec-fetch-site":
                site = value.strip().lower()
            elif name == b"host":
                host = value
        if origin is not None:
            given = origin.decode("latin-1").strip().lower()
            own = f"{scope.get('scheme', 'http')}://{host.decode('latin-1')}".lower()
            return given != "null" and (given == own or given in self.allowed)
        return site not in REFUSED_SITES
