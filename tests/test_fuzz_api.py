"""Schemathesis against `/openapi.json` on a real uvicorn process: no 5xx, answers that match
the description, and nothing stored by a request the service refused.

The server runs as its own process, as the Procfile runs it, so that the synchronous
schemathesis client cannot block its event loop. Every operation is fuzzed with data that
fits the description and with data that does not, with random order ids and with real ones.

The SSE operation is fuzzed too, without hanging: the real orders handed to it are terminal,
so their stream sends the status and ends by itself (API.md), and orders created by the
fuzzer are settled (the sandbox answers at once, or the payment expires within a second)
before the next case runs. Long polls are capped at 0.3 s, and the desk's never-ending
stream is read up to its first event.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from server.lifecycle import TERMINAL
from server.ops.openapi import openapi_document
from tests.backends import free_port
from tests.local_http import local_get, local_post
from tests.ops_helpers import GUARDED_TABLES, checkout_body

ROOT = Path(__file__).resolve().parent.parent
GATE_TOKEN = "fuzz-gate-token-0123456789"
DESK_TOKEN = "fuzz-desk-token-0123456789"
POSITIVE, NEGATIVE = schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE


def _can_be_wrong(operation: dict[str, Any]) -> bool:
    """Data that does not fit the description exists only where there is something to get wrong:
    a body, or a parameter that is more than any string at all."""
    parameters = operation.get("parameters", [])
    return "requestBody" in operation or any(p["schema"] != {"type": "string"} for p in parameters)


CASES = [
    (path, method.upper(), mode)
    for path, methods in openapi_document()["paths"].items()
    for method, operation in methods.items()
    for mode in ([POSITIVE, NEGATIVE] if _can_be_wrong(operation) else [POSITIVE])
]
# How the service refuses what does not fit: schemathesis's list, plus 413 (a fuzzed body
# past the size limit) and 431 (headers past 16 KiB).
REFUSALS = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "431"]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Bounded: the whole run stays well under two minutes in CI.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "40"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    suppress_health_check=list(HealthCheck),
)


@dataclass
class FuzzTarget:
    base_url: str
    database: Path
    token: str
    order_ids: list[str]
    schema: Any

    def snapshot(self) -> dict[str, list[str]]:
        with sqlite3.connect(f"file:{self.database}?mode=ro", uri=True) as db:
            return {
                table.name: sorted(repr(row) for row in db.execute(f"SELECT * FROM {table.name}"))
                for table in GUARDED_TABLES
            }

    def settle(self, order_id: str) -> None:
        """Wait until an order the fuzzer created stops changing in the background."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            status = local_get(f"{self.base_url}/api/orders/{order_id}", timeout=5).json()["payment_status"]
            if status in TERMINAL:
                return
            time.sleep(0.05)
        raise AssertionError(f"order {order_id} did not settle")


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzTarget]:
    tmp = tmp_path_factory.mktemp("fuzz")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    database = tmp / "fuzz.sqlite3"
    env = {
        **os.environ,
        "PORT": str(port),
        "DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "DATA_DIR": str(tmp / "data"),
        "PUBLIC_BASE_URL": base_url,
        "SANDBOX_DELAY": "0",
        "WAIT_TIMEOUT": "0.3",
        "WAIT_TIMEOUT_MAX": "0.3",
        "PAYMENT_EXPIRY": "1",
        "PAYHERO_TIMEOUT": "0.4",
        "PROMPT_WINDOW": "0.5",
        "EXPIRY_CHECK_INTERVAL": "0.2",
        "LOG_LEVEL": "WARNING",
        "GATE_TOKEN": GATE_TOKEN,
        "DESK_TOKEN": f"fuzz:{DESK_TOKEN}",
    }
    env.pop("REDIS_URL", None)
    log = (tmp / "server.log").open("wb")
    command = [sys.executable, "-m", "server.launcher", "server.app:create_app", "--factory"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--no-proxy-headers"]
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if local_get(f"{base_url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, (tmp / "server.log").read_text()
            time.sleep(0.1)
        token = (tmp / "data" / "callback_token").read_text().strip()
        raw = local_get(f"{base_url}/openapi.json").json()
        config = schemathesis.Config.from_dict(
            {
                "checks": {"negative_data_rejection": {"expected-statuses": REFUSALS}},
                # The desk's live figures never end (API.md): read up to the first figures,
                # not until the request's timeout (15 s of waiting, once per run).
                "operations": [{"include-path": "/api/desk/live", "max-stream-events": 1}],
            }
        )
        schema = schemathesis.openapi.from_dict(raw, config=config)
        seeded = FuzzTarget(base_url, database, token, [], schema)
        for phone in ("0712345678", "0712341032"):  # paid, cancelled: both terminal
            created = local_post(f"{base_url}/api/orders", json=checkout_body(phone=phone), timeout=10)
            assert created.status_code == 201, created.text
            seeded.order_ids.append(created.json()["order_id"])
            seeded.settle(seeded.order_ids[-1])
        yield seeded
    finally:
        server.terminate()
        server.wait(timeout=15)
        log.close()


def _strategies(target: FuzzTarget, path: str, method: str, mode: schemathesis.GenerationMode) -> Any:
    operation = target.schema[path][method]
    if path == "/api/tickets/check-in":
        # The gate's token, so the body behind it is what gets fuzzed (none is a 401).
        return operation.as_strategy(mode, headers={"Authorization": f"Bearer {GATE_TOKEN}"})
    if "{token}" in path:
        # The real secret, so the body behind it is what gets fuzzed (a wrong one is a 404).
        return operation.as_strategy(mode, path_parameters={"token": target.token})
    # The desk's token, so what is behind it gets fuzzed (none is a 401).
    headers = {"Authorization": f"Bearer {DESK_TOKEN}"} if path.startswith("/api/desk") else None
    if "{order_id}" in path:
        real = st.sampled_from(target.order_ids).flatmap(
            lambda order_id: operation.as_strategy(
                mode, path_parameters={"order_id": order_id}, headers=headers
            )
        )
        return st.one_of(operation.as_strategy(mode, headers=headers), real)
    return operation.as_strategy(mode, headers=headers)


@pytest.mark.parametrize(("path", "method", "mode"), CASES)
def test_fuzzed_requests_get_no_5xx_and_refused_ones_change_nothing(
    target: FuzzTarget, path: str, method: str, mode: schemathesis.GenerationMode
) -> None:
    checks = [*CHECKS, negative_data_rejection] if mode == NEGATIVE else CHECKS

    @FUZZ
    @given(case=_strategies(target, path, method, mode))
    def run(case: schemathesis.Case) -> None:
        before = target.snapshot()
        response = case.call(base_url=target.base_url, timeout=15)
        case.validate_response(response, checks=checks)
        if response.status_code >= 400 and response.status_code != 502:
            assert target.snapshot() == before, f"{response.status_code} changed stored data"
        elif path == "/api/orders":
            target.settle(response.json()["order_id"])

    run()
