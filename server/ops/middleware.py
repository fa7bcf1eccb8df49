"""The middleware stack, outermost first, decided once from the settings."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

from server.http_errors import error_response
from server.ops.cross_site import CrossSiteGuard
from server.ops.forwarded import ForwardedHeaders, TrustedProxies, UntrustedForwarding
from server.ops.metrics import Metrics
from server.ops.request_metrics import HeaderLimit, RequestObserver
from server.settings import Settings


class JsonCORSMiddleware(CORSMiddleware):
    """Starlette's CORS, with its refused preflight answered in the API's JSON error shape."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 400:
            return response
        headers = {k: v for k, v in response.headers.items() if k not in {"content-type", "content-length"}}
        return error_response(400, "cors_refused", bytes(response.body).decode(), headers=headers)


def build_middleware(
    settings: Settings, metrics: Metrics, untrusted: UntrustedForwarding
) -> list[Middleware]:
    """The app's middleware, outermost first: forwarded headers, the request observer, the
    header limit, then CORS when origins are configured."""
    # Outermost first: the observer sees (and counts) the answers of every layer inside it;
    # the client's address is resolved before anything else looks at it.
    stack = [
        Middleware(
            ForwardedHeaders, trusted=TrustedProxies(settings.forwarded_allow_ips), untrusted=untrusted
        ),
        Middleware(RequestObserver, metrics=metrics, log_requests=settings.log_requests),
        Middleware(HeaderLimit),
    ]
    if settings.cors_origins:
        # Closed unless configured: with no CORS headers a browser refuses other sites' reads.
        # No credentials: the API uses no cookies, so none are allowed across origins.
        stack.append(
            Middleware(
                JsonCORSMiddleware,
                allow_origins=list(settings.cors_origins),
                allow_methods=["GET", "POST"],
                allow_headers=["Content-Type", "Last-Event-ID"],
                max_age=600,
            )
        )
    # Inside CORS, so a preflight is answered first; this sees the real request.
    own = (settings.public_base_url,) if settings.public_base_url else ()
    stack.append(Middleware(CrossSiteGuard, allowed_origins=(*own, *settings.cors_origins)))
    return stack
