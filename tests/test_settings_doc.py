"""docs/SETTINGS.md's configuration table is the declarations' (server/settings/doc_table.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.settings import DECLARED
from server.settings.doc_table import BEGIN, END, rewrite, table

SETTINGS_DOC = Path(__file__).resolve().parent.parent / "docs" / "SETTINGS.md"


def test_the_settings_table_is_generated_from_the_declarations() -> None:
    text = SETTINGS_DOC.read_text(encoding="utf-8")
    assert rewrite(text) == text, "docs/SETTINGS.md's configuration table is stale: run `make settings-doc`"


def test_every_declared_variable_has_one_row_with_its_meaning() -> None:
    rows = table().splitlines()[2:]
    for _, declaration in DECLARED:
        assert sum(row.startswith(f"| `{declaration.env}` |") for row in rows) == 1
        assert declaration.doc.strip()
    assert len({declaration.env for _, declaration in DECLARED}) == len(DECLARED)


def test_a_document_without_the_markers_is_refused_rather_than_appended_to() -> None:
    with pytest.raises(ValueError, match="needs the lines"):
        rewrite("# no table here\n")
    assert rewrite(f"a\n{BEGIN}\nold\n{END}\nb\n") == f"a\n{BEGIN}\n{table()}{END}\nb\n"
