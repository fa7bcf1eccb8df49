"""The hand-written QR PNG is pixel for pixel what qrcode's own pure-Python writer draws."""

from __future__ import annotations

import io

import png
import pytest
from qrcode.image.pure import PyPNGImage

from server.tickets.qr import _qr, qr_png


@pytest.mark.parametrize("code", ["TCK-ABC", "x" * 60, "v1.eyJ0IjoiYWJjIn0.c2lnbmF0dXJl"])
def test_the_png_matches_qrcodes_own_rendering(code: str) -> None:
    reference = io.BytesIO()
    _qr(code).make_image(image_factory=PyPNGImage).save(reference)
    width, height, rows, info = png.Reader(bytes=qr_png(code)).read()
    ref_width, ref_height, ref_rows, _ = png.Reader(bytes=reference.getvalue()).read()
    assert (width, height) == (ref_width, ref_height)
    assert info["bitdepth"] == 1 and info["greyscale"]
    assert [list(row) for row in rows] == [list(row) for row in ref_rows]
