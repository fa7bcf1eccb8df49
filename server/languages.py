"""The languages customers read: which one a request asks for, and how it is named.

English and Kiswahili. A browser says what it reads in `Accept-Language`; the pages are
served in the first of ours it names (by its q-values), English when it names neither. A
customer who picks the other language on the page keeps it on their device (localStorage),
never in a URL. An order remembers the language it was placed in, for its e-mails.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from string import Template
from zoneinfo import ZoneInfo

ENGLISH = "en"
KISWAHILI = "sw"
LANGUAGES = (ENGLISH, KISWAHILI)
DEFAULT_LANGUAGE = ENGLISH


def choose_language(accept_language: str | None, offered: tuple[str, ...] = LANGUAGES) -> str:
    """The offered language the header prefers most (`sw-KE` counts as `sw`), else English."""
    best, best_quality = DEFAULT_LANGUAGE, 0.0
    for position, item in enumerate((accept_language or "").split(",")):
        name, _, params = item.strip().partition(";")
        primary = name.strip().lower().split("-", 1)[0]
        if primary not in offered:
            continue
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        # Equal q-values: the first named wins (a tiny tilt by position keeps that order).
        quality -= position * 1e-6
        if quality > best_quality:
            best, best_quality = primary, quality
    return best


# The server's own sentences (e-mails, ticket cards), one catalogue per language.
WORDS_DIR = Path(__file__).resolve().parent / "templates" / "words"


def load_words(folder: Path = WORDS_DIR) -> dict[str, dict[str, str]]:
    """The server's sentences by language; a missing catalogue fails at start."""
    return {
        language: json.loads((folder / f"{language}.json").read_text(encoding="utf-8"))
        for language in LANGUAGES
    }


def moment_words(moment_text: str, timezone: str, words: Mapping[str, str]) -> str:
    """`moment_text` (ISO 8601) in the event's own timezone, saying which: a customer reads
    the gate's time, and the receipt's, as the clocks at the venue show them. Day and month
    names come from the language's catalogue (`weekdays`, `months`, `when`), not the
    process's locale."""
    try:
        moment = datetime.fromisoformat(moment_text.replace("Z", "+00:00"))
        zone = ZoneInfo(timezone)
    except (ValueError, KeyError):
        return moment_text
    local = moment.astimezone(zone)
    return Template(words["when"]).substitute(
        weekday=words["weekdays"].split()[local.weekday()],
        day=f"{local.day:02d}",
        month=words["months"].split()[local.month - 1],
        year=local.year,
        time=local.strftime("%H:%M"),
        city=timezone.rsplit("/", 1)[-1].replace("_", " "),
    )


def known_language(value: object) -> str:
    """`value` if it is one of ours, else the default: rows from before languages were kept."""
    return value if isinstance(value, str) and value in LANGUAGES else DEFAULT_LANGUAGE
