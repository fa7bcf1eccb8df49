"""QR images of ticket codes, as PNG (e-mails, browsers) and SVG (print, any size).

PNG is written here from qrcode's module matrix, as a 1-bit greyscale image: with 8 px
modules each module is exactly one byte of a pixel row, so a row is a bytes join and the
image is one zlib call. `qrcode.image.pure.PyPNGImage` made the same PNG pixel by pixel in
pure Python: 8 of the 13 ms a ticket's QR took, on the same CPU as the event loop (the
e-mails are composed in a thread, but it holds the GIL), and it showed in the fan-out
latency of bench.fanout. Pillow would also do, but it is a large compiled dependency for
drawing black squares. Building the matrix (qrcode's mask search) is the rest: callers
still run rendering in a thread.
"""

from __future__ import annotations

import io
import struct
import zlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import qrcode

# qrcode is imported when the first QR is drawn, not at start: ~27 ms of every service and
# command-line start, most of which draw none (the composing process imports it once).

# 8 px modules and the standard 4-module quiet zone: ~300 px for a ticket code, crisp on
# phones and printers. Error correction M survives a scuffed screen or a crumpled print.
BOX_SIZE = 8
BORDER = 4


def _qr(code: str) -> qrcode.QRCode:
    import qrcode.constants

    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=BOX_SIZE, border=BORDER)
    qr.add_data(code)
    qr.make(fit=True)
    return qr


# zlib's default level. Level 9 took 0.96 ms a ticket's QR and wrote a larger PNG (471 bytes
# on average against 445): its longer searches find nothing more in rows that repeat each
# module eight times. Level 6 takes 0.14 ms (one-off, 100 ticket codes; docs/BENCHMARKS.md).
ZLIB_LEVEL = 6
# One byte per module, so the module size is fixed to the byte: 8 px (BOX_SIZE).
_DARK, _LIGHT = b"\x00", b"\xff"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def qr_png(code: str) -> bytes:
    """The ticket's QR as a 1-bit greyscale PNG, BOX_SIZE px per module, BORDER modules of quiet zone."""
    assert BOX_SIZE == 8, "one byte per module in a 1-bit row"
    matrix = _qr(code).get_matrix()  # includes the quiet zone
    size = len(matrix) * BOX_SIZE
    rows = []
    for line in matrix:
        # Filter type 0, then the pixels; each module row is BOX_SIZE pixel rows.
        row = b"\x00" + b"".join(_DARK if dark else _LIGHT for dark in line)
        rows.append(row * BOX_SIZE)
    header = struct.pack(">IIBBBBB", size, size, 1, 0, 0, 0, 0)  # 1-bit greyscale
    pixels = zlib.compress(b"".join(rows), ZLIB_LEVEL)
    return PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", pixels) + _chunk(b"IEND", b"")


def qr_svg(code: str) -> bytes:
    """A ticket code's QR image as SVG."""
    from qrcode.image.svg import SvgPathImage

    buffer = io.BytesIO()
    _qr(code).make_image(image_factory=SvgPathImage).save(buffer)
    return buffer.getvalue()
