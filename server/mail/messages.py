"""Turning an outbox row into a MIME e-mail: templates from `server/templates/`, and QRs.

Each e-mail is written in the language its order was placed in (the payload's `language`,
English for rows from before): the templates hold the layout, and every sentence comes from
one catalogue per language, `server/templates/words/<code>.json`, whose sentences name the
values they need (`$first_name`). A template's `$w_<key>` is that sentence, filled in.

Every e-mail has a plain-text and an HTML part (multipart/alternative). The tickets
e-mail puts each ticket's QR into a multipart/related beside the HTML, as an inline PNG
the HTML names by Content-ID, so mail apps show it without fetching anything remote.

The Message-ID is derived from the outbox key, never random: if a crash between "sent"
and "marked sent" makes the worker send an e-mail again, the copy has the same
Message-ID, so mail apps and anyone reading the logs can tell it is the same e-mail.
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from pathlib import Path
from string import Template
from typing import Any, cast

from server.catalogue import DEFAULT_TIMEZONE
from server.json_text import parse_own_json
from server.languages import DEFAULT_LANGUAGE, known_language, load_words, moment_words
from server.mail.kinds import LOST_TICKETS, TICKETS, LetterFields, LostTicketsLetter, TicketsLetter
from server.store.rows import OutboxRow
from server.tickets.qr import qr_png
from server.urls import calendar_url, payment_page_url, qr_url

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
# The e-mails' sentences, one catalogue per language.
WORDS_DIR = "words"
# The receipt's rows in its plain-text part, in this order, their values aligned.
RECEIPT_ROWS = (
    ("order", "order_number"),
    ("event", "event_name"),
    ("tickets", "ticket_items"),
    ("amount_paid", "amount"),
    ("mpesa_receipt", "receipt_number"),
    ("paid_at", "paid_at"),
)


def message_id(key: str, domain: str) -> str:
    return f"<{hashlib.sha256(key.encode('utf-8')).hexdigest()[:32]}.outbox@{domain}>"


def _when(moment_text: str, timezone: str, words: Mapping[str, str]) -> str:
    return moment_words(moment_text, timezone, words)


def _money(amount: int, currency: str) -> str:
    return f"{currency} {amount:,}"


def _rows(words: Mapping[str, str], values: Mapping[str, Any]) -> str:
    """The receipt's rows as aligned text: "Order:          ORD-…"."""
    width = max(16, *(len(words[label]) + 2 for label, _ in RECEIPT_ROWS))
    return "\n".join(f"{words[label] + ':':<{width}}{values[key]}" for label, key in RECEIPT_ROWS)


@dataclass(frozen=True)
class Letter:
    """A rendered e-mail before it becomes MIME: subject, both bodies, inline images."""

    subject: str
    text: str
    html: str
    images: list[tuple[str, str, bytes]] = field(default_factory=list)  # (cid, filename, png)


class Composer:
    """Turns an outbox row into an e-mail message from the templates: text, HTML, QR images."""

    def __init__(self, mail_from: str, public_base_url: str = "", templates: Path = TEMPLATES) -> None:
        self.mail_from = mail_from
        # Links in e-mails (the order's ticket page, its calendar file, each QR) start here.
        self.public_base_url = public_base_url.rstrip("/")
        self.domain = parseaddr(mail_from)[1].rpartition("@")[2] or "localhost"
        # Read once: a missing template fails at start, not in the middle of a send.
        self._templates = {
            path.name: Template(path.read_text(encoding="utf-8"))
            for path in sorted(templates.iterdir())
            if path.is_file()
        }
        self._words = load_words(templates / WORDS_DIR)

    def _sentences(
        self, words: Mapping[str, str], values: Mapping[str, Any], *, escape: bool
    ) -> dict[str, str]:
        """Every sentence of the catalogue as `w_<key>`, filled with `values` (escaped for HTML)."""
        if escape:
            values = {k: html.escape(str(v)) for k, v in values.items()}
        return {
            f"w_{key}": Template(html.escape(text) if escape else text).safe_substitute(values)
            for key, text in words.items()
        }

    def _render(
        self, name: str, values: Mapping[str, Any], *, escape: bool, markup: Mapping[str, str] | None = None
    ) -> str:
        """Fill template `name`; with `escape`, values are HTML-escaped, `markup` is not.

        The language's sentences (`$w_<key>`) are filled with the same values first.
        """
        words = self._words[known_language(values.get("language"))]
        sentences = self._sentences(words, values, escape=escape)
        if escape:
            values = {k: html.escape(str(v)) for k, v in values.items()}
        # `substitute`, not `safe_substitute`: a missing value is a bug to see, not a `$gap`.
        return self._templates[name].substitute({**values, **sentences, **(markup or {})})

    def lost_tickets_letter(self, payload: LostTicketsLetter) -> Letter:
        """ "Lost your tickets?": one item per paid order, each with its ticket page's link."""
        language = known_language(payload.get("language", DEFAULT_LANGUAGE))
        words = self._words[language]
        values = {"language": language, "first_name": payload.get("first_name", "")}
        text_items, html_items = "", ""
        for order in payload["orders"]:
            timezone = str(order.get("event_timezone") or DEFAULT_TIMEZONE)
            item = {
                **values,
                **order,
                "event_when": _when(str(order.get("event_starts_at", "")), timezone, words),
                "order_url": self.public_base_url + payment_page_url(str(order["order_id"])),
            }
            text_items += self._render("lost_tickets_item.txt", item, escape=False) + "\n"
            html_items += self._render("lost_tickets_item.html", item, escape=True)
        subject = self._render("lost_tickets.subject.txt", values, escape=False).strip()
        text = self._render("lost_tickets.txt", {**values, "orders": text_items}, escape=False)
        page = self._render("lost_tickets.html", values, escape=True, markup={"orders": html_items})
        return Letter(subject, text, page)

    def letter(self, kind: str, payload: LetterFields | LostTicketsLetter) -> Letter:
        """The e-mail of an outbox row's `kind` and JSON payload, as the outbox wrote it.

        The kind says the payload's shape (server/transitions/outbox_rows.py,
        server/orders/lost_tickets.py); a row written by an older release may lack a field,
        hence `.get` with a default where that happened.
        """
        if kind == LOST_TICKETS:
            return self.lost_tickets_letter(cast(LostTicketsLetter, payload))
        return self._order_letter(kind, cast(LetterFields, payload))

    def _order_letter(self, kind: str, payload: LetterFields) -> Letter:
        # Rows written before the event's timezone was captured are for Kenyan events too.
        timezone = str(payload.get("event_timezone") or DEFAULT_TIMEZONE)
        # Rows written before orders kept a language are English.
        language = known_language(payload.get("language", DEFAULT_LANGUAGE))
        words = self._words[language]
        values: dict[str, object] = {
            **payload,
            "language": language,
            "amount": _money(int(payload["amount"]), str(payload["currency"])),
            "event_when": _when(str(payload.get("event_starts_at", "")), timezone, words),
            "paid_at": _when(str(payload["paid_at"]), timezone, words),
            "order_url": self.public_base_url + payment_page_url(str(payload["order_id"])),
            "calendar_url": self.public_base_url + calendar_url(str(payload["order_id"])),
        }
        images: list[tuple[str, str, bytes]] = []
        text_items, html_items = "", ""
        if kind == TICKETS:
            listed = cast(TicketsLetter, payload)["tickets"]
            for number, ticket in enumerate(listed, start=1):
                cid = f"ticket-{ticket['ticket_id']}@{self.domain}"
                item = {
                    **values,
                    "number": number,
                    "count": len(listed),
                    "code": ticket["code"],
                    # Outbox rows written before short codes carry none: the long code is still there.
                    "short_code": ticket.get("short_code") or ticket["code"],
                    "cid": cid,
                    "qr_url": self.public_base_url + qr_url(str(ticket["ticket_id"])),
                }
                text_items += self._render("tickets_item.txt", item, escape=False) + "\n"
                html_items += self._render("tickets_item.html", item, escape=True)
                images.append((cid, f"ticket-{number}.png", qr_png(ticket["code"])))
        values["receipt_rows"] = _rows(
            words, {**values, "ticket_items": f"{values['quantity']} x {values['ticket_type_name']}"}
        )
        subject = self._render(f"{kind}.subject.txt", values, escape=False).strip()
        text = self._render(f"{kind}.txt", {**values, "tickets": text_items}, escape=False)
        # The ticket items are HTML already, escaped piece by piece: inserted as they are.
        page = self._render(f"{kind}.html", values, escape=True, markup={"tickets": html_items})
        return Letter(subject, text, page, images)

    def compose(self, row: OutboxRow) -> EmailMessage:
        """The whole e-mail of an outbox row (CPU work for tickets: run it in a thread)."""
        letter = self.letter(row.kind, parse_own_json(row.payload))
        message = EmailMessage()
        message["From"] = self.mail_from
        message["To"] = row.recipient
        message["Subject"] = letter.subject
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = message_id(row.key, self.domain)
        message.set_content(letter.text)
        message.add_alternative(letter.html, subtype="html")
        html_part = message.get_body(preferencelist=("html",))
        if letter.images and html_part is not None:
            # The HTML part becomes multipart/related: the page and the images it names.
            for cid, filename, png in letter.images:
                html_part.add_related(
                    png,
                    maintype="image",
                    subtype="png",
                    cid=f"<{cid}>",
                    filename=filename,
                    disposition="inline",
                )
        return message
