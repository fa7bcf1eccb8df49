"""The JSON text of the service's own values (server/json_text.py): the status document,
the outbox's payloads and the webhook's answer are written by orjson, and must read back as
the same values the standard library would have written, whatever the names hold."""

from __future__ import annotations

import json

import pytest

from server.json_text import compact_json, parse_own_json
from server.status.document import StatusUpdate

# An order's document as waiters are handed it: names in Kiswahili and French, a price past
# 2**31, nothing where there is nothing yet.
DOCUMENT = {
    "order_id": "ord_3kS9x2LmQpZ7",
    "order_number": "A-1042",
    "payment_status": "COMPLETED",
    "amount": 3_000_000_000,
    "currency": "KES",
    "version": 4,
    "updated_at": "2026-12-07T21:40:00.123Z",
    "result_code": 0,
    "result_desc": "Malipo yamekamilika — asante",
    "receipt_number": "SLK4H7Q2XY",
    "tickets": [{"type": "vip", "name": "Café & Jazz ★", "short_code": "ABCDE-FGHJK-M"}],
    "prompt_expires_at": None,
    "pushes": [],
    "paid": True,
}


def test_the_text_reads_back_as_the_library_would_have_written_it() -> None:
    text = compact_json(DOCUMENT)
    assert json.loads(text) == DOCUMENT
    # Compact as before, and the names as they are: the wire is UTF-8 everywhere.
    assert text == json.dumps(DOCUMENT, separators=(",", ":"), ensure_ascii=False)
    assert parse_own_json(text) == DOCUMENT
    assert parse_own_json(text.encode()) == DOCUMENT


def test_a_status_update_keeps_the_document_and_what_the_hub_reads() -> None:
    update = StatusUpdate.from_document(DOCUMENT)  # type: ignore[arg-type]
    assert (update.order_id, update.version, update.payment_status) == ("ord_3kS9x2LmQpZ7", 4, "COMPLETED")
    assert update.document == DOCUMENT
    assert json.loads(update.json_with(next="tickets")) == {**DOCUMENT, "next": "tickets"}
    # What another process's broker message turns back into.
    assert StatusUpdate.from_json(update.json.encode()) == update


@pytest.mark.parametrize("message", ["", "{", '{"order_id": "x"}', "[]", b"\xff\xfe"])
def test_a_malformed_broker_message_is_a_value_error(message: str | bytes) -> None:
    # The hub ignores a message it cannot read (and logs it) on a ValueError.
    with pytest.raises(ValueError):
        StatusUpdate.from_json(message)


def test_a_value_that_is_not_json_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        compact_json({1: "a key that is not a string"})
    with pytest.raises(TypeError):
        compact_json({"when": object()})
