"""Every string a customer or gate attendant reads exists in English and in Kiswahili.

The pages' words are in web/static/i18n/<code>.json, the e-mails' in
server/templates/words/<code>.json. This fails when a key is in one language and not the
other, when a page or script names a key no catalogue has, when a template names a sentence
no catalogue has, or when a translation drops or invents a placeholder.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from server.languages import LANGUAGES, choose_language
from server.webfiles import WebFiles

ROOT = Path(__file__).resolve().parent.parent
PAGE_WORDS = ROOT / "web" / "static" / "i18n"
MAIL_WORDS = ROOT / "server" / "templates" / "words"
TEMPLATES = ROOT / "server" / "templates"


# A translation that leaves out a value on purpose: the server's field messages are English,
# so the Kiswahili page names the field and leaves the English predicate out.
LEFT_OUT = {("sw", "error.server"): {"message"}}


def _catalogues(folder: Path) -> dict[str, dict[str, str]]:
    return {code: json.loads((folder / f"{code}.json").read_text(encoding="utf-8")) for code in LANGUAGES}


def _keys_used_by_pages(areas: set[str]) -> set[str]:
    """Keys named in the pages (`data-i18n…="key"`) and scripts (any "area.name" literal)."""
    used: set[str] = set()
    for page in (ROOT / "web").glob("*.html"):
        used |= set(re.findall(r'data-i18n(?:-label)?="([^"]+)"', page.read_text(encoding="utf-8")))
    used |= set(
        re.findall(
            r'data-i18n="([a-z]+\.[A-Za-z0-9_]+)"',
            (ROOT / "server" / "webfiles.py").read_text(encoding="utf-8"),
        )
    )
    for script in (ROOT / "web" / "static").glob("*.js"):
        for literal in re.findall(r'"([a-z]+\.[A-Za-z][A-Za-z0-9_]*)"', script.read_text(encoding="utf-8")):
            if literal.split(".", 1)[0] in areas:
                used.add(literal)
    return used


@pytest.mark.parametrize("folder", [PAGE_WORDS, MAIL_WORDS], ids=["pages", "e-mails"])
def test_both_languages_have_the_same_keys_and_placeholders(folder: Path) -> None:
    catalogues = _catalogues(folder)
    english = catalogues["en"]
    marker = r"\{(\w+)\}" if folder == PAGE_WORDS else r"\$(\w+)"
    for code, words in catalogues.items():
        missing, extra = sorted(set(english) - set(words)), sorted(set(words) - set(english))
        assert not missing and not extra, f"{folder.name}/{code}.json: missing {missing}, extra {extra}"
        for key, text in words.items():
            assert isinstance(text, str) and text.strip(), f"{code}.json {key!r} is empty"
            expected = set(re.findall(marker, english[key])) - LEFT_OUT.get((code, key), set())
            assert set(re.findall(marker, text)) == expected, (
                f"{code}.json {key!r}: placeholders differ from English"
            )


def test_every_key_the_pages_use_is_in_every_catalogue() -> None:
    catalogues = _catalogues(PAGE_WORDS)
    areas = {key.split(".", 1)[0] for key in catalogues["en"]}
    used = _keys_used_by_pages(areas)
    assert len(used) > 100, "the scan found the pages' keys"
    for code, words in catalogues.items():
        assert sorted(used - set(words)) == [], f"web/static/i18n/{code}.json lacks these keys"


def test_every_sentence_the_e_mails_use_is_in_every_catalogue() -> None:
    catalogues = _catalogues(MAIL_WORDS)
    used = {
        name
        for path in TEMPLATES.glob("*.*")
        for name in re.findall(r"\$w_(\w+)", path.read_text(encoding="utf-8"))
    }
    assert used
    for code, words in catalogues.items():
        assert sorted(used - set(words)) == [], f"server/templates/words/{code}.json lacks these sentences"


def test_the_pages_are_served_translated_in_each_language() -> None:
    files = WebFiles.load()
    assert set(files.languages) == set(LANGUAGES)
    swahili = files.page("index.html", "sw").body.decode()
    assert '<html lang="sw">' in swahili and "Nunua tiketi" in swahili and "Buy tickets" not in swahili
    english = files.page("index.html", "en").body.decode()
    assert '<html lang="en">' in english and "Buy tickets" in english


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("sw", "sw"),
        ("sw-KE,sw;q=0.9,en;q=0.8", "sw"),
        ("en-US,en;q=0.9,sw;q=0.8", "en"),
        ("fr-FR,sw;q=0.5", "sw"),
        ("fr-FR", "en"),
        ("", "en"),
        (None, "en"),
        ("sw;q=0, en", "en"),
        ("sw;q=bad", "en"),
    ],
)
def test_accept_language_picks_the_first_of_ours(header: str | None, language: str) -> None:
    assert choose_language(header) == language
