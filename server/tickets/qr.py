"""QR images of ticket codes, as PNG (e-mails, browsers) and SVG (print, any size).

PNG goes through `qrcode.image.pure.PyPNGImage`, which writes with pypng: pure Python, a
single small wheel, no C library. Pillow would also do, but it is a large compiled
dependency for drawing black squares, and a QR is 1-bit: pypng writes it as a 1-bit
greyscale PNG of a few hundred bytes. Rendering is CPU work: callers run it in a thread.
"""

from __future__ import annotations

import io

import qrcode
import qrcode.constants
from qrcode.image.pure import PyPNGImage
from qrcode.image.svg import SvgPathImage

# 8 px modules and the standard 4-module quiet zone: ~300 px for a ticket code, crisp on
# phones and printers. Error correction M survives a scuffed screen or a crumpled print.
BOX_SIZE = 8
BORDER = 4


def _qr(code: str) -> qrcode.QRCode:
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=BOX_SIZE, border=BORDER)
    qr.add_data(code)
    qr.make(fit=True)
    return qr


def qr_png(code: str) -> bytes:
    buffer = io.BytesIO()
    _qr(code).make_image(image_factory=PyPNGImage).save(buffer)
    return buffer.getvalue()


def qr_svg(code: str) -> bytes:
    buffer = io.BytesIO()
    _qr(code).make_image(image_factory=SvgPathImage).save(buffer)
    return buffer.getvalue()
