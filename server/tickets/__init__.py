"""Tickets: signed codes, their QR images, and the gate's verify and check-in."""

from __future__ import annotations

from server.tickets.codes import TicketSigner
from server.tickets.gate import AlreadyCheckedIn, EventOver, Gate, NotGenuine, TicketCheck
from server.tickets.gate_limits import GateLimited, GateLimits
from server.tickets.qr import qr_png, qr_svg
from server.tickets.qr_images import QrImage, QrImages, etag_matches, image_etag
from server.tickets.short_codes import grouped
from server.tickets.typed_codes import MAX_TYPED_LENGTH

__all__ = [
    "MAX_TYPED_LENGTH",
    "AlreadyCheckedIn",
    "EventOver",
    "Gate",
    "GateLimited",
    "GateLimits",
    "NotGenuine",
    "QrImage",
    "QrImages",
    "TicketCheck",
    "TicketSigner",
    "etag_matches",
    "grouped",
    "image_etag",
    "qr_png",
    "qr_svg",
]
