"""Each ticket's QR images, drawn once per process and then served from memory.

A ticket's code never changes once issued, so neither does its image. Drawing it (qrcode's
mask search, in Python) holds the GIL for milliseconds, and a 50-client flood of one
ticket's PNG pushed the service's callback -> waiter p50 from 7 ms to 585 ms (issue 15).
Now the first request for an image draws it in a thread, requests arriving meanwhile wait
for that same drawing, and every later one is a dictionary lookup, without a store read.
The cache is bounded by bytes, least recently used first out; the ETag is derived from the
code, so a browser's conditional request is answered 304 without drawing anything.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from collections.abc import Callable
from typing import NamedTuple

# Part of every ETag: bump it when the drawing changes (size, quiet zone, error correction),
# so browsers holding the old image fetch the new one.
DRAWING = "qr-m-8px-4"
DEFAULT_MAX_BYTES = 8 * 1024 * 1024


def image_etag(kind: str, code: str) -> str:
    """The ETag of a QR image: the same for the same code, kind and drawing."""
    digest = hashlib.sha256(f"{DRAWING}:{kind}:{code}".encode()).hexdigest()[:32]
    return f'"{digest}"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110's weak comparison of an If-None-Match header against our ETag."""
    if not if_none_match:
        return False
    for candidate in if_none_match.split(","):
        tag = candidate.strip()
        if tag == "*" or tag.removeprefix("W/") == etag:
            return True
    return False


class QrImage(NamedTuple):
    etag: str
    body: bytes


class QrImages:
    """Images by (kind, ticket id), each drawn at most once at a time, within `max_bytes`.

    Keyed by ticket id because a paid ticket's code never changes: a hit needs no store
    read either. Only paid tickets get here (the route reads the code first on a miss).
    """

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._images: OrderedDict[tuple[str, str], QrImage] = OrderedDict()
        self._size = 0
        self._drawing: dict[tuple[str, str], asyncio.Future[QrImage]] = {}
        # Read by tests and benchmarks: how many images were actually drawn.
        self.drawn = 0

    def cached(self, kind: str, ticket_id: str) -> QrImage | None:
        key = (kind, ticket_id)
        image = self._images.get(key)
        if image is not None:
            self._images.move_to_end(key)
        return image

    async def draw(self, kind: str, ticket_id: str, code: str, render: Callable[[str], bytes]) -> QrImage:
        """The ticket's image, drawn in a thread unless a request before this one is at it."""
        key = (kind, ticket_id)
        image = self.cached(kind, ticket_id)
        if image is not None:
            return image
        drawing = self._drawing.get(key)
        if drawing is None:
            drawing = self._drawing[key] = asyncio.ensure_future(self._draw(key, code, render))
        # Shielded: one waiter giving up (its client left) does not cancel it for the rest.
        return await asyncio.shield(drawing)

    async def _draw(self, key: tuple[str, str], code: str, render: Callable[[str], bytes]) -> QrImage:
        try:
            image = QrImage(image_etag(key[0], code), await asyncio.to_thread(render, code))
        finally:
            del self._drawing[key]
        self.drawn += 1
        self._keep(key, image)
        return image

    def _keep(self, key: tuple[str, str], image: QrImage) -> None:
        if len(image.body) > self.max_bytes:
            return
        self._images[key] = image
        self._size += len(image.body)
        while self._size > self.max_bytes:
            _, dropped = self._images.popitem(last=False)
            self._size -= len(dropped.body)
