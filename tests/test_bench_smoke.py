"""Every benchmark scenario, at a small size, runs to the end with no error.

The benchmarks live in bench/ and are run by hand for the figures in docs/BENCHMARKS.md;
running each here, small, keeps them from rotting as the service changes. No timing is
asserted: these check that the scenarios still work, not how fast the service is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import bench.postgres
from bench import fanout, idle_waiters, profiling, qr_flood, requests_per_payment, scale_out, throughput
from tests.backends import POSTGRES_ADMIN_URL, PostgresDatabases


@pytest.fixture
def out(tmp_path: Path) -> list[str]:
    return ["--out", str(tmp_path)]


@pytest.fixture
def bench_postgres(postgres: PostgresDatabases, monkeypatch: pytest.MonkeyPatch) -> None:
    # The scenarios make (and drop) a database of their own on the test server.
    monkeypatch.setattr(bench.postgres, "ADMIN_URL", POSTGRES_ADMIN_URL)


def no_errors(payload: dict[str, Any]) -> None:
    results = payload.get("results", [payload])
    assert results
    for result in results:
        assert result["errors"] == 0, result


def test_idle_waiters(out: list[str]) -> None:
    payload = idle_waiters.cli(["--sizes", "200", "--settle", "0.2", *out])
    no_errors(payload)
    assert payload["results"][0]["held_on_server"] == 200


def test_fanout(out: list[str]) -> None:
    payload = fanout.cli(["--held", "200", "--complete", "50", *out])
    no_errors(payload)
    assert payload["results"][0]["delivered"] == 50


def test_qr_flood(out: list[str]) -> None:
    payload = qr_flood.cli(["--held", "40", "--complete", "10", "--flood", "4", *out])
    result = payload["results"][0]
    assert result["quiet"]["delivered"] == result["flooded"]["delivered"] == 10
    assert result["quiet"]["errors"] == result["flooded"]["errors"] == 0
    assert set(result["flood"]["statuses"]) == {"200"} and not result["flood"]["failures"]


@pytest.mark.usefixtures("bench_postgres")
def test_throughput_on_both_stores(out: list[str]) -> None:
    payload = throughput.cli(["--stores", "sqlite,postgres", "--orders", "100", *out])
    no_errors(payload)
    assert {(r["store"], r["phase"]) for r in payload["results"]} == {
        (store, phase) for store in ("sqlite", "postgres") for phase in ("orders", "callbacks")
    }


def test_requests_per_payment(out: list[str]) -> None:
    payload = requests_per_payment.cli(["--scale", "0.05", "--per-case", "1", *out])
    no_errors(payload)
    # Answered well within the first hold (0.5 s of a 1.25 s hold at this scale): one request.
    for outcome in ("paid at 10 s", "cancelled at 10 s"):
        assert payload["by_outcome"][outcome]["wait"]["requests_per_payment"] == 1
        assert payload["by_outcome"][outcome]["sse"]["requests_per_payment"] == 1
    assert payload["store_single_reads"] == payload["server_requests_total"]


@pytest.mark.usefixtures("bench_postgres")
def test_scale_out(out: list[str], redis_url: str) -> None:
    payload = scale_out.cli(["--waiters", "20,200", "--redis", redis_url, *out])
    no_errors(payload)
    first, last = payload["steps"]
    assert last["redis_connections_a"] == first["redis_connections_a"]
    assert payload["delivered"] == payload["completed"] == 200


def test_a_profile_summary_counts_each_function_once_per_sample(tmp_path: Path) -> None:
    collapsed = tmp_path / "profile.txt"
    collapsed.write_text(
        "run (asyncio/runners.py:1);apply (server/status/changes.py:10);"
        "apply (server/status/changes.py:12);execute (sqlite3/x.py:3) 3\n"
        "run (asyncio/runners.py:1);compose (server/mail/compose.py:5) 1\n"
    )
    found = dict((name, percent) for percent, name in profiling.summary(collapsed))
    # Recursion or two lines of one function count a sample once; stdlib frames are left out.
    assert found == {"apply (status/changes.py)": 75.0, "compose (mail/compose.py)": 25.0}
