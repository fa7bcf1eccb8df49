"""The pages (`/`, `/payment/{order_id}`, the staff's `/gate` and `/desk`) and their static assets.

The pages are the same bytes for every order: the status page reads the order id from its
own URL, so nothing about an order or a customer is ever written into HTML. They differ only
by language: English or Kiswahili, as `Accept-Language` prefers (server/languages.py).
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from server.http_errors import ApiError
from server.languages import choose_language
from server.urls import (
    DESK_PAGE,
    GATE_PAGE,
    GATE_SERVICE_WORKER,
    HOME_PAGE,
    PAYMENT_PAGE,
    STATIC,
    TICKET_PAGE,
    payment_page_url,
)
from server.web_encoding import choose, not_modified
from server.webfiles import WEB_DIR, WebFile, WebFiles

# No inline script or style anywhere; QR images are same-origin, `data:` covers the icon.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    # The status URL holds the order id: it must not travel to anyone in a Referer.
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
# Pages are revalidated on every visit (cheap: ETag), so a deploy is seen at once.
PAGE_CACHE = "no-cache"
ASSET_CACHE = "public, max-age=31536000, immutable"

# Order ids are URL-safe base64 of at least 128 bits; anything else is not an order.
ORDER_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
# A ticket's own link: `<ticket id>.<16-character mark>` (server/tickets/share_links.py).
SHARE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}\.[A-Za-z0-9_-]{16}")
# What a chat app or an e-mail sentence glues to the end of a link: "see /payment/abc…."
TRAILING_PUNCTUATION = ".,;:!?)]}>'\"\u2019\u201d"


def _send(request: Request, file: WebFile, cache_control: str, status_code: int = 200) -> Response:
    chosen = choose(file, request.headers.get("accept-encoding", ""))
    headers = {**SECURITY_HEADERS, "Cache-Control": cache_control, "ETag": chosen.etag, **chosen.headers}
    if file.media_type.startswith("text/html"):
        # A page is in the language the browser asks for: caches must keep one per language.
        headers["Vary"] = ", ".join(filter(None, [headers.get("Vary", ""), "Accept-Language"]))
    if status_code == 200 and not_modified(request.headers.get("if-none-match"), chosen.etag):
        headers.pop("Content-Encoding", None)  # a 304 has no body to decode
        return Response(status_code=304, headers=headers)
    return Response(chosen.body, status_code=status_code, media_type=file.media_type, headers=headers)


PAGES = ("index.html", "payment.html", "gate.html", "desk.html", "ticket.html")


class Pages:
    def __init__(self, files: WebFiles) -> None:
        # Checked when the app is built: a deploy without web/ fails at start, not per request.
        missing = [name for name in PAGES if name not in files.pages]
        if missing:
            raise RuntimeError(f"web pages missing: {', '.join(missing)} (expected in {WEB_DIR})")
        self.files = files

    def _page(self, request: Request, name: str) -> WebFile:
        language = choose_language(request.headers.get("accept-language"), self.files.languages)
        return self.files.page(name, language)

    async def checkout(self, request: Request) -> Response:
        return _send(request, self._page(request, "index.html"), PAGE_CACHE)

    async def payment(self, request: Request) -> Response:
        order_id = request.path_params["order_id"]
        if ORDER_ID.fullmatch(order_id):
            return _send(request, self._page(request, "payment.html"), PAGE_CACHE)
        trimmed = order_id.rstrip(TRAILING_PUNCTUATION)
        if trimmed != order_id and ORDER_ID.fullmatch(trimmed):
            return RedirectResponse(payment_page_url(trimmed), status_code=308, headers=SECURITY_HEADERS)
        # A person followed this link: the page's own "cannot find this payment", as a 404.
        # It reads the id from its URL and knows this one cannot be an order.
        return _send(request, self._page(request, "payment.html"), PAGE_CACHE, status_code=404)

    async def gate(self, request: Request) -> Response:
        return _send(request, self._page(request, "gate.html"), PAGE_CACHE)

    async def ticket(self, request: Request) -> Response:
        # One ticket by its own link: the page reads the id from its URL, like the status page,
        # and says itself that it cannot find a ticket; a link that cannot be one is a 404.
        status = 200 if SHARE_ID.fullmatch(request.path_params["share_id"]) else 404
        return _send(request, self._page(request, "ticket.html"), PAGE_CACHE, status_code=status)

    async def desk(self, request: Request) -> Response:
        return _send(request, self.files.page("desk.html"), PAGE_CACHE)

    async def gate_worker(self, request: Request) -> Response:
        # Revalidated like a page: a deploy's new worker is installed on the next visit.
        worker = self.files.asset(self.files.version, "gate-sw.js")
        if worker is None:
            raise ApiError(404, "not_found", "No such file.")
        return _send(request, worker, PAGE_CACHE)

    async def static(self, request: Request) -> Response:
        asset = self.files.asset(request.path_params["version"], request.path_params["path"])
        if asset is None:
            raise ApiError(404, "not_found", "No such file.")
        return _send(request, asset, ASSET_CACHE)


def routes(files: WebFiles | None = None, *, sandbox: bool = False) -> list[BaseRoute]:
    pages = Pages(files or WebFiles.load(sandbox=sandbox))
    return [
        Route(HOME_PAGE, pages.checkout, methods=["GET"]),
        Route(PAYMENT_PAGE, pages.payment, methods=["GET"]),
        Route(GATE_PAGE, pages.gate, methods=["GET"]),
        Route(DESK_PAGE, pages.desk, methods=["GET"]),
        Route(TICKET_PAGE, pages.ticket, methods=["GET"]),
        Route(GATE_SERVICE_WORKER, pages.gate_worker, methods=["GET"]),
        Route(STATIC, pages.static, methods=["GET"]),
    ]
