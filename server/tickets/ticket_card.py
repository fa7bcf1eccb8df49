"""One ticket as a card image (PNG) worth keeping: what a gate needs, readable offline.

The event, its date and time at the venue, the venue, the ticket type and number, the
holder's first name, the QR and the short code to type, drawn with Pillow (its own bundled
font, or DejaVu where the system has it). Words come from the caller, already in the
reader's language: this module only draws. CPU work: run it in a thread.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from server.tickets.qr import qr_png

if TYPE_CHECKING:
    from PIL import ImageDraw, ImageFont

    Font: TypeAlias = ImageFont.FreeTypeFont | ImageFont.ImageFont

# Pillow is imported when the first card is drawn, not at start: ~50 ms of every service
# and command-line start, most of which draw no card.

WIDTH = 720
MARGIN = 40
BRAND = (11, 122, 59)  # the pages' M-PESA green
INK = (27, 31, 35)
MUTED = (90, 100, 112)
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")


@dataclass(frozen=True)
class CardText:
    event_name: str
    when: str
    venue: str
    ticket_line: str  # "Early Bird · Ticket 1 of 2"
    holder_label: str
    holder: str
    gate_code_label: str
    short_code: str
    show_note: str


@cache
def _font(size: int, bold: bool = False) -> Font:
    from PIL import ImageFont

    path = FONT_DIR / ("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf")
    try:
        return ImageFont.truetype(str(path), size)
    except OSError:
        return ImageFont.load_default(size=size)  # Pillow's own font: no system font needed


def _wrapped(draw: ImageDraw.ImageDraw, text: str, font: Font, width: int) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        if lines and draw.textlength(f"{lines[-1]} {word}", font=font) <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines or [""]


def ticket_card_png(text: CardText, code: str) -> bytes:
    """The ticket as a PNG card: its words, the QR of `code` and the short code."""
    from PIL import Image, ImageDraw, ImageFont

    qr = Image.open(io.BytesIO(qr_png(code))).convert("RGB")
    qr_size = min(WIDTH - 2 * MARGIN, 480)
    qr = qr.resize((qr_size, qr_size), Image.Resampling.NEAREST)
    # Drawn on a tall canvas, then cut to what was used.
    card = Image.new("RGB", (WIDTH, 2000), "white")
    draw = ImageDraw.Draw(card)
    inner = WIDTH - 2 * MARGIN
    title = _font(40, bold=True)
    title_lines = _wrapped(draw, text.event_name, title, inner)
    band = MARGIN + len(title_lines) * 50 + MARGIN // 2
    draw.rectangle((0, 0, WIDTH, band), fill=BRAND)
    y = MARGIN
    for line in title_lines:
        draw.text((MARGIN, y), line, font=title, fill="white")
        y += 50
    y = band + 24
    for value, font, colour in (
        (text.when, _font(28), INK),
        (text.venue, _font(28), INK),
        (text.ticket_line, _font(30, bold=True), INK),
        (f"{text.holder_label}: {text.holder}" if text.holder else "", _font(28), INK),
    ):
        for line in _wrapped(draw, value, font, inner) if value else []:
            draw.text((MARGIN, y), line, font=font, fill=colour)
            y += int(font.size) + 12 if isinstance(font, ImageFont.FreeTypeFont) else 40
    y += 12
    card.paste(qr, ((WIDTH - qr_size) // 2, y))
    y += qr_size + 16
    label = _font(24)
    draw.text((WIDTH // 2, y), text.gate_code_label, font=label, fill=MUTED, anchor="mt")
    y += 40
    draw.text((WIDTH // 2, y), text.short_code, font=_font(44, bold=True), fill=INK, anchor="mt")
    y += 70
    for line in _wrapped(draw, text.show_note, _font(22), inner):
        draw.text((WIDTH // 2, y), line, font=_font(22), fill=MUTED, anchor="mt")
        y += 32
    out = io.BytesIO()
    card.crop((0, 0, WIDTH, y + MARGIN)).save(out, format="PNG", optimize=True)
    return out.getvalue()
