"""The e-mails the service sends, by kind: the outbox rows' `kind` and the templates' names."""

from __future__ import annotations

# Caused by a payment.
WELCOME = "welcome"
TICKETS = "tickets"
RECEIPT = "receipt"
# Asked for on "Lost your tickets?": a link to each paid order's ticket page.
LOST_TICKETS = "lost_tickets"
KINDS = (WELCOME, TICKETS, RECEIPT, LOST_TICKETS)
