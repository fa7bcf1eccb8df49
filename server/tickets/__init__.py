"""Tickets: signed codes, their QR images, and the gate's verify and check-in."""

from __future__ import annotations

from server.tickets.admission_list import AdmissionLists
from server.tickets.codes import TicketSigner
from server.tickets.gate import AlreadyCheckedIn, EventOver, Gate, NotGenuine, TicketCheck
from server.tickets.gate_limits import GateLimited, GateLimits
from server.tickets.offline_check_ins import MAX_BATCH, OfflineCheckIns, QueuedCheckIn
from server.tickets.qr import qr_png, qr_svg
from server.tickets.qr_images import QrImage, QrImages, etag_matches, image_etag
from server.tickets.share_links import share_id
from server.tickets.shared_tickets import SharedTicket, card_text, find_shared_ticket
from server.tickets.short_codes import grouped
from server.tickets.ticket_card import ticket_card_png
from server.tickets.typed_codes import MAX_TYPED_LENGTH

__all__ = [
    "MAX_BATCH",
    "MAX_TYPED_LENGTH",
    "AdmissionLists",
    "AlreadyCheckedIn",
    "EventOver",
    "Gate",
    "GateLimited",
    "GateLimits",
    "NotGenuine",
    "OfflineCheckIns",
    "QrImage",
    "QrImages",
    "QueuedCheckIn",
    "SharedTicket",
    "TicketCheck",
    "TicketSigner",
    "card_text",
    "etag_matches",
    "find_shared_ticket",
    "grouped",
    "image_etag",
    "qr_png",
    "qr_svg",
    "share_id",
    "ticket_card_png",
]
