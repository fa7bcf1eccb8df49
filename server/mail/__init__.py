"""E-mails through an outbox: written with the change that causes them, sent after commit."""

from __future__ import annotations

from server.mail.composer_process import Composing
from server.mail.delivery import OutboxWorker
from server.mail.kinds import (
    LOST_TICKETS,
    RECEIPT,
    TICKETS,
    WELCOME,
    LetterFields,
    LetterTicket,
    LostOrderItem,
    LostTicketsLetter,
    TicketsLetter,
)
from server.mail.messages import Composer
from server.mail.transport import EmlFileSender, build_sender

__all__ = [
    "LOST_TICKETS",
    "RECEIPT",
    "TICKETS",
    "WELCOME",
    "Composer",
    "Composing",
    "EmlFileSender",
    "LetterFields",
    "LetterTicket",
    "LostOrderItem",
    "LostTicketsLetter",
    "OutboxWorker",
    "TicketsLetter",
    "build_sender",
]
