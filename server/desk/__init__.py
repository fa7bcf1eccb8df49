"""The organiser's desk: live figures, an order's whole story, the payments held for review
and what a person does about them, tickets sent again, and CSV exports (issue 21).

The command line and the desk's HTTP routes call the same functions here."""

from server.desk.exports import attendees_csv, payments_csv
from server.desk.figures import read_door, read_sales
from server.desk.resend import resend_tickets
from server.desk.reviews import RECEIPT, ask_payhero, close_review, complete_order, review_queue
from server.desk.story import read_story, search_orders

__all__ = [
    "RECEIPT",
    "ask_payhero",
    "attendees_csv",
    "close_review",
    "complete_order",
    "payments_csv",
    "read_door",
    "read_sales",
    "read_story",
    "resend_tickets",
    "review_queue",
    "search_orders",
]
