"""A QR image already drawn is answered past the Router (issue 15's flood).

Once an image is in memory (server/tickets/qr_images.py) what a request for it costs is
the framework around it: Starlette's Router trying every route's pattern, a Request, a
Response and their headers. A flood of one ticket's image is thousands of those a second
on the loop that also fans payments out, so a GET for a drawn image is sent from here,
as `HeldRoutesFastPath` does for the held routes. Anything else, a first request for an
image included, goes on to the Router and `server/routes/ticket_api.py`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping

from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from server.routes.params import scope_header
from server.services import scope_services
from server.tickets.qr_images import QrImage, etag_matches
from server.urls import IMAGE_CACHE_CONTROL, TICKET_QR_PNG, TICKET_QR_SVG, router_pattern

# The Router's own patterns of the two image routes, with each one's media type.
_IMAGES = (
    (router_pattern(TICKET_QR_PNG), "png", "image/png"),
    (router_pattern(TICKET_QR_SVG), "svg", "image/svg+xml"),
)
_IMAGE_CACHE = IMAGE_CACHE_CONTROL.encode()


async def _send_image(send: Send, image: QrImage, media_type: str, not_modified: bool) -> None:
    headers = [(b"etag", image.etag.encode()), (b"cache-control", _IMAGE_CACHE)]
    if not_modified:
        await send({"type": "http.response.start", "status": 304, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        return
    headers += [(b"content-type", media_type.encode()), (b"content-length", b"%d" % len(image.body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": image.body})


class QrFastPath:
    """ASGI middleware: a GET for a QR image this process has drawn is answered at once."""

    def __init__(self, app: ASGIApp, routes: Mapping[str, BaseRoute]) -> None:
        self.app = app
        # By extension: the Route the Router would have matched, for the metrics' label.
        self.routes = routes

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] == "http" and scope["method"] == "GET":
            for pattern, extension, media_type in _IMAGES:
                match = pattern.match(scope["path"])
                if match is None:
                    continue
                image = scope_services(scope).qr_images.cached(media_type, match["ticket_id"])
                if image is not None:
                    scope["route"] = self.routes[extension]
                    fresh = etag_matches(scope_header(scope, b"if-none-match"), image.etag)
                    return _send_image(send, image, media_type, fresh)
                break
        return self.app(scope, receive, send)
