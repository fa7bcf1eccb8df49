"""The hand-written QR PNG is pixel for pixel what qrcode's own pure-Python writer draws."""

from __future__ import annotations

import io

import png
import pytest
from qrcode.image.pure import PyPNGImage

from server.tickets.qr import _qr, qr_png
from server.tickets.qr_images import QrImages


@pytest.mark.parametrize("code", ["TCK-ABC", "x" * 60, "v1.eyJ0IjoiYWJjIn0.c2lnbmF0dXJl"])
def test_the_png_matches_qrcodes_own_rendering(code: str) -> None:
    reference = io.BytesIO()
    _qr(code).make_image(image_factory=PyPNGImage).save(reference)
    width, height, rows, info = png.Reader(bytes=qr_png(code)).read()
    ref_width, ref_height, ref_rows, _ = png.Reader(bytes=reference.getvalue()).read()
    assert (width, height) == (ref_width, ref_height)
    assert info["bitdepth"] == 1 and info["greyscale"]
    assert [list(row) for row in rows] == [list(row) for row in ref_rows]


async def test_the_image_cache_stays_within_its_byte_budget() -> None:
    images = QrImages(max_bytes=1000)

    def draw(code: str) -> bytes:
        return code.encode() * 100  # 400 bytes for a four-letter code

    for code in ("aaaa", "bbbb", "aaaa", "cccc"):
        image = await images.draw("image/png", f"ticket-{code}", code, draw)
        assert image.body == code.encode() * 100
    assert images.drawn == 3  # "aaaa" the second time came from memory
    # 1,200 bytes would not fit: the least recently used ("bbbb") went first.
    assert images.cached("image/png", "ticket-aaaa") is not None
    assert images.cached("image/png", "ticket-cccc") is not None
    assert images.cached("image/png", "ticket-bbbb") is None
    await images.draw("image/png", "ticket-bbbb", "bbbb", draw)
    assert images.drawn == 4
