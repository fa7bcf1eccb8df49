"""Issue 19 item 8: what an operator reads. /metrics has a request-duration histogram by route
template and the running release (`build_info`), and no `_created` series; with
LOG_FORMAT=json a payment's values are JSON fields of their own."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from prometheus_client.parser import text_string_to_metric_families

from server.ops.build_info import build_info
from server.settings import Settings
from tests.ops_helpers import callback_body, checkout_body, served


async def test_metrics_time_requests_by_route_and_name_the_release(
    make_settings: Callable[..., Settings],
) -> None:
    async with served(make_settings(sandbox_delay=30.0)) as (_, http):
        order = (await http.post("/api/orders", json=checkout_body())).json()
        for _ in range(3):
            assert (await http.get(f"/api/orders/{order['order_id']}")).status_code == 200
        text = (await http.get("/metrics")).text
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    route = (("method", "GET"), ("route", "/api/orders/{order_id}"))
    assert samples[("payment_status_http_request_duration_seconds_count", route)] == 3
    every = tuple(sorted((*route, ("le", "+Inf"))))
    assert samples[("payment_status_http_request_duration_seconds_bucket", every)] == 3
    # Route templates only: no order id (nor the callback's secret) ever becomes a label.
    assert order["order_id"] not in text
    built = build_info()
    assert built.version == "0.1.0" and len(built.commit) >= 7
    info = (("commit", built.commit), ("version", built.version))
    assert samples[("payment_status_build_info", info)] == 1.0
    assert "_created" not in text


async def test_json_logs_carry_the_payments_values_as_fields(
    make_settings: Callable[..., Settings], capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(sandbox_delay=30.0, log_format="json", log_level="INFO")
    async with served(settings) as (live, http):
        order = (await http.post("/api/orders", json=checkout_body())).json()
        token = live.services.settings.callback_token
        paid = await http.post(f"/api/payhero/callback/{token}", content=callback_body(order["order_number"]))
        assert paid.status_code == 200
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    changed = [
        line
        for line in lines
        if line["message"].startswith("status changed") and line.get("status") == "completed"
    ]
    assert changed, lines
    [entry] = changed
    assert entry["order"] == order["order_id"] and entry["version"] > order["version"]
    assert entry["from_status"] in {"pending", "processing"} and entry["source"]
    # The payment's one line says what it did: a ticket signed, its e-mails queued.
    assert entry["tickets"] == checkout_body()["quantity"]
    assert entry["mail"].split(",") == ["welcome", "tickets", "receipt"]
    received = [line for line in lines if line["message"].startswith("callback received")]
    assert (
        received
        and received[0]["result"] == "completed"
        and received[0]["reference"] == order["order_number"]
    )
