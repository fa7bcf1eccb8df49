"""A QR image already drawn is answered past the Router (issue 15's flood).

Once an image is in memory (server/tickets/qr_images.py) what a request for it costs is
the framework around it: Starlette's Router trying every route's pattern, a Request, a
Response and their headers. A flood of one ticket's image is thousands of those a second
on the loop that also fans payments out, so a GET for a drawn image is sent from here,
as `HeldRoutesFastPath` does for the held routes. Anything else, a first request for an
image included, goes on to the Router and `server/routes/ticket_api.py`.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Mapping

from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from server.routes.params import scope_header
from server.tickets.qr_images import QrImage, etag_matches

_QR = re.compile(r"^/api/tickets/([A-Za-z0-9_-]{1,64})/qr\.(png|svg)$")
MEDIA_TYPES = {"png": "image/png", "svg": "image/svg+xml"}
IMAGE_CACHE = b"private, max-age=31536000, immutable"


async def _send_image(send: Send, image: QrImage, media_type: str, not_modified: bool) -> None:
    headers = [(b"etag", image.etag.encode()), (b"cache-control", IMAGE_CACHE)]
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
            match = _QR.match(scope["path"])
            if match is not None:
                ticket_id, extension = match.groups()
                media_type = MEDIA_TYPES[extension]
                image = scope["state"]["services"].qr_images.cached(media_type, ticket_id)
                if image is not None:
                    scope["route"] = self.routes[extension]
                    fresh = etag_matches(scope_header(scope, b"if-none-match"), image.etag)
                    return _send_image(send, image, media_type, fresh)
        return self.app(scope, receive, send)
