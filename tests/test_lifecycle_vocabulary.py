"""The lifecycle's words are written once, in server/lifecycle.py.

A status or a review reason spelled as a bare string elsewhere is a second definition that a
change of the vocabulary would miss (issue 23): `status/reader.py` once compared with the
literal "completed". PayHero's own words are another vocabulary that happens to share some
spellings ("failed", "cancelled" in its callbacks' `status`); the modules that speak it are
named below with that reason.
"""

from __future__ import annotations

import ast
from pathlib import Path

from server import lifecycle
from server.ops.metrics import Metrics

SERVER = Path(__file__).resolve().parent.parent / "server"
WORDS = set(lifecycle.STATUSES) | set(lifecycle.REVIEW_REASONS)
# PayHero's vocabulary, not ours: its callbacks' and simulator's words.
PROVIDER_VOCABULARY = {"payhero/callback_parser.py", "payhero/fake.py"}


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def test_no_module_spells_a_status_or_review_reason_as_a_bare_string() -> None:
    spelled = []
    for path in sorted(SERVER.rglob("*.py")):
        relative = path.relative_to(SERVER).as_posix()
        if relative == "lifecycle.py" or relative in PROVIDER_VOCABULARY:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = _docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value in WORDS and id(node) not in docstrings:
                spelled.append(f"{relative}:{node.lineno} {node.value!r}")
    assert spelled == [], "use server.lifecycle's names instead:\n" + "\n".join(spelled)


def test_every_review_reason_has_its_counter_from_the_start() -> None:
    exposition = Metrics().render().decode()
    for reason in lifecycle.REVIEW_REASONS:
        assert f'payment_status_reviews_total{{reason="{reason}"}} 0.0' in exposition


def test_every_status_but_pending_can_be_entered_and_paid_overrides_every_other_end() -> None:
    assert set(lifecycle.ALLOWED_FROM) == set(lifecycle.STATUSES) - {lifecycle.PENDING}
    others = lifecycle.TERMINAL - {lifecycle.COMPLETED}
    assert others <= lifecycle.ALLOWED_FROM[lifecycle.COMPLETED]
    for status in others:
        assert lifecycle.COMPLETED not in lifecycle.ALLOWED_FROM[status]
