"""Turning an outbox row into a MIME e-mail: templates from `server/templates/`, and QRs.

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
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from pathlib import Path
from string import Template
from typing import Any
from zoneinfo import ZoneInfo

from server.catalogue import DEFAULT_TIMEZONE
from server.mail.kinds import TICKETS
from server.tickets.qr import qr_png
from server.urls import calendar_url, payment_page_url, qr_url

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def message_id(key: str, domain: str) -> str:
    return f"<{hashlib.sha256(key.encode('utf-8')).hexdigest()[:32]}.outbox@{domain}>"


def _when(moment_text: str, timezone: str) -> str:
    """`moment_text` (ISO 8601) in the event's own timezone, saying which: a customer reads
    the gate's time, and the receipt's, as the clocks at the venue show them."""
    try:
        moment = datetime.fromisoformat(moment_text.replace("Z", "+00:00"))
        zone = ZoneInfo(timezone)
    except (ValueError, KeyError):
        return moment_text
    city = timezone.rsplit("/", 1)[-1].replace("_", " ")
    return moment.astimezone(zone).strftime("%a %d %b %Y, %H:%M") + f" ({city} time)"


def _money(amount: int, currency: str) -> str:
    return f"{currency} {amount:,}"


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
            path.name: Template(path.read_text(encoding="utf-8")) for path in sorted(templates.iterdir())
        }

    def _render(
        self, name: str, values: Mapping[str, Any], *, escape: bool, markup: Mapping[str, str] | None = None
    ) -> str:
        """Fill template `name`; with `escape`, values are HTML-escaped, `markup` is not."""
        if escape:
            values = {k: html.escape(str(v)) for k, v in values.items()}
        # `substitute`, not `safe_substitute`: a missing value is a bug to see, not a `$gap`.
        return self._templates[name].substitute({**values, **(markup or {})})

    def letter(self, kind: str, payload: Mapping[str, Any]) -> Letter:
        # Rows written before the event's timezone was captured are for Kenyan events too.
        timezone = str(payload.get("event_timezone") or DEFAULT_TIMEZONE)
        values: dict[str, Any] = {
            **payload,
            "amount": _money(int(payload["amount"]), str(payload["currency"])),
            "event_when": _when(str(payload.get("event_starts_at", "")), timezone),
            "paid_at": _when(str(payload["paid_at"]), timezone),
            "order_url": self.public_base_url + payment_page_url(str(payload["order_id"])),
            "calendar_url": self.public_base_url + calendar_url(str(payload["order_id"])),
        }
        images: list[tuple[str, str, bytes]] = []
        text_items, html_items = "", ""
        if kind == TICKETS:
            listed = payload["tickets"]
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
        subject = self._render(f"{kind}.subject.txt", values, escape=False).strip()
        text = self._render(f"{kind}.txt", {**values, "tickets": text_items}, escape=False)
        # The ticket items are HTML already, escaped piece by piece: inserted as they are.
        page = self._render(f"{kind}.html", values, escape=True, markup={"tickets": html_items})
        return Letter(subject, text, page, images)

    def compose(self, row: Mapping[str, Any]) -> EmailMessage:
        """The whole e-mail of an outbox row (CPU work for tickets: run it in a thread)."""
        letter = self.letter(str(row["kind"]), json.loads(row["payload"]))
        message = EmailMessage()
        message["From"] = self.mail_from
        message["To"] = row["recipient"]
        message["Subject"] = letter.subject
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = message_id(str(row["key"]), self.domain)
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
