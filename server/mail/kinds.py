"""The e-mails a payment causes, by kind: the outbox rows' `kind` and the templates' names."""

from __future__ import annotations

WELCOME = "welcome"
TICKETS = "tickets"
RECEIPT = "receipt"
KINDS = (WELCOME, TICKETS, RECEIPT)
