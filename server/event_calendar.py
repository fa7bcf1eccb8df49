"""The event as an iCalendar file (RFC 5545): what "Add to calendar" on the ticket page gets.

It names the event, never the buyer: the same file for every order of an event, with a UID
made from the event, so buying twice (or downloading twice) still leaves one entry in the
customer's calendar. Times are written in UTC (`…Z`), which needs no VTIMEZONE block and
which every calendar app shows in its own local time.
"""

from __future__ import annotations

from datetime import UTC, datetime

from server.catalogue import Event

# RFC 5545 §3.1: content lines are folded at 75 octets; continuation lines start with a space.
_LINE_OCTETS = 75


_ESCAPES = str.maketrans({"\\": "\\\\", ";": "\\;", ",": "\\,", "\n": "\\n", "\r": None})


def _escape(text: str) -> str:
    # §3.3.11: backslash, semicolon, comma and newlines are escaped in TEXT values.
    return text.translate(_ESCAPES)


def _fold(line: str) -> str:
    """Fold a content line at 75 octets without cutting a UTF-8 character in two."""
    parts: list[str] = []
    current, size = "", 0
    for char in line:
        octets = len(char.encode("utf-8"))
        limit = _LINE_OCTETS if not parts else _LINE_OCTETS - 1
        if size + octets > limit:
            parts.append(current)
            current, size = "", 0
        current += char
        size += octets
    parts.append(current)
    return "\r\n ".join(parts)


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def event_calendar(event: Event, domain: str, *, now: datetime | None = None) -> str:
    """The event's VCALENDAR text, CRLF line endings as the RFC requires."""
    starts = datetime.fromisoformat(event.starts_at)
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//payment-status//tickets//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "BEGIN:VEVENT",
        f"UID:{event.slug}@{domain}",
        f"DTSTAMP:{_utc(now or datetime.now(UTC))}",
        f"DTSTART:{_utc(starts)}",
    ]
    if event.ends_at:
        lines.append(f"DTEND:{_utc(datetime.fromisoformat(event.ends_at))}")
    lines.append(f"SUMMARY:{_escape(event.name)}")
    if event.venue:
        lines.append(f"LOCATION:{_escape(event.venue)}")
    lines.append("DESCRIPTION:" + _escape("Bring your ticket QR codes: the gate scans one per person."))
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return "".join(_fold(line) + "\r\n" for line in lines)
