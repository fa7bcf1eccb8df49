"""The README tells the story and the reference lives in docs/: short, and no link broken.

Every picture and local link in the README and docs/ points at a file that is there, and
every screenshot the browser tests save is shown somewhere (the README or docs/PAGES.md's
gallery), so a picture renamed, moved or added is noticed here rather than by a reader.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCUMENTS = [README, *sorted((ROOT / "docs").glob("*.md"))]
# Markdown links and images, and HTML <img src>: the target up to a space, ')' or '"'.
LINK = re.compile(r"\]\(([^)\s]+)\)|<img [^>]*src=\"([^\"]+)\"")


def _local_targets(document: Path) -> list[str]:
    found = []
    for match in LINK.finditer(document.read_text(encoding="utf-8")):
        target = (match.group(1) or match.group(2)).split("#", 1)[0]
        if target and not re.match(r"[a-z]+:", target):
            found.append(target)
    return found


def test_the_readme_is_at_most_250_lines() -> None:
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= 250, f"README.md has {lines} lines: reference belongs in docs/"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_every_local_link_and_picture_is_there(document: Path) -> None:
    broken = [target for target in _local_targets(document) if not (document.parent / target).exists()]
    assert broken == []


def test_every_screenshot_is_shown() -> None:
    shown = {
        (document.parent / target).resolve()
        for document in (README, ROOT / "docs" / "PAGES.md")
        for target in _local_targets(document)
    }
    pictures = sorted((ROOT / "docs" / "screenshots").glob("*.png"))
    unshown = [path.name for path in pictures if path not in shown]
    assert unshown == [], "add them to docs/PAGES.md's gallery"


def test_the_two_commands_are_the_makefiles() -> None:
    text = README.read_text(encoding="utf-8")
    assert "make run" in text and "make test" in text
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"(?m)^run:", makefile) and re.search(r"(?m)^test:", makefile)
