"""A client that drops its connection mid-body is the client's doing (issue 24): no 500,
no traceback, a counter of its own. Real uvicorn, real sockets."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest

from server.settings import Settings
from tests.server_harness import run_server, until


def _sample(settings_metrics: object, name: str, labels: dict[str, str] | None = None) -> float:
    registry = settings_metrics.registry  # type: ignore[attr-defined]
    return float(registry.get_sample_value(name, labels or {}) or 0.0)


@pytest.mark.parametrize("route", ["checkout", "webhook"])
async def test_a_body_cut_short_is_counted_not_a_500(
    make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture, route: str
) -> None:
    caplog.set_level(logging.INFO)
    async with run_server(make_settings()) as live:
        metrics = live.services.metrics
        webhook = urlsplit(live.services.settings.callback_url).path
        path = "/api/orders" if route == "checkout" else webhook
        host, port = live.base_url.removeprefix("http://").split(":")
        for _ in range(7):
            _, writer = await asyncio.open_connection(host, int(port))
            head = (
                f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                "Content-Length: 500\r\n\r\n"
            )
            writer.write(head.encode() + b'{"event": "demo-')
            await writer.drain()
            writer.close()
            await writer.wait_closed()
        await until(lambda: _sample(metrics, "payment_status_client_disconnects_total") >= 7)
    assert _sample(metrics, "payment_status_client_disconnects_total") == 7
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]
    served = metrics.registry.collect()
    five_hundreds = [
        sample
        for family in served
        if family.name == "payment_status_http_requests"
        for sample in family.samples
        if sample.labels.get("status", "").startswith("5")
    ]
    assert five_hundreds == []
