"""Every benchmark scenario, at a small size, runs to the end with no error.

The benchmarks live in bench/ and are run by hand for the figures in docs/BENCHMARKS.md;
running each here, small, keeps them from rotting as the service changes. No timing is
asserted: these check that the scenarios still work, not how fast the service is.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import bench.postgres
from bench import (
    callback_overheads,
    compare,
    fanout,
    flash_sale,
    frozen_garbage,
    hundred_k,
    idle_waiters,
    instructions,
    log_cost,
    mail_loop,
    profiling,
    qr_flood,
    qr_reductions,
    requests_per_payment,
    scale_out,
    schema_cost,
    stall_probe,
    throughput,
)
from bench.peers import nchan
from bench.sale_audit import Audit
from tests.backends import POSTGRES_ADMIN_URL, PostgresDatabases
from tests.gate_helpers import MISSED_AT_FULL_SIZE, READ_ONLY_AT_A_FIFTH, READ_ONLY_AT_A_QUARTER


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
    payload = fanout.cli(["--held", "200", "--complete", "50", "--no-pin", *out])
    no_errors(payload)
    result = payload["results"][0]
    assert result["delivered"] == 50
    # Both kinds of waiter are measured, not only the SSE ones every other index holds.
    assert result["completed_by_kind"] == {"sse": 25, "wait": 25}
    assert all(result["latency_ms_by_kind"][kind]["p50"] > 0 for kind in ("sse", "wait"))
    # Every run reports the whole-process pauses from /metrics (issue 13 item 5), no NaN.
    pauses = result["pauses"]
    assert pauses["frozen_objects"] > 0 and pauses["gen2_collections"] >= 0
    assert pauses["longest_gc_ms"] >= 0 and pauses["longest_loop_lag_ms"] >= 0


@pytest.mark.waits
def test_frozen_garbage(out: list[str]) -> None:
    payload = frozen_garbage.cli(["--held", "200", "--complete", "50", *out])
    no_errors(payload)
    assert payload["delivered"] == 50
    assert payload["frozen_objects"]["start-up"] > 0 and payload["frozen_garbage"] >= 0


def test_stall_probe_around_a_small_fanout(out: list[str]) -> None:
    # The watchdog loads in the service and the wrapped command runs to its end; a small
    # run may have no stall over 50 ms, so only the records' shape is checked.
    command = [sys.executable, "-m", "bench.fanout", "--held", "100", "--complete", "20", "--no-pin", *out]
    stalls = stall_probe.cli(["--", *command])
    assert all({"ms", "cpu_ms", "seen_ms", "stacks"} <= set(stall) for stall in stalls)


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


@pytest.mark.usefixtures("bench_postgres")
def test_throughput_with_two_workers(out: list[str], redis_url: str) -> None:
    argv = ["--stores", "postgres", "--orders", "60", "--workers", "2", "--redis", redis_url]
    payload = throughput.cli([*argv, *out])
    no_errors(payload)
    callbacks = next(r for r in payload["results"] if r["phase"] == "callbacks")
    assert callbacks["ok"] == 60 and callbacks["workers"] == 2
    # CPU is counted in each worker, not in uvicorn's supervisor.
    assert len(callbacks["server_cpu_s_by_process"]) == 2


def flash_sale_small(out: list[str], *more: str) -> dict[str, Any]:
    # Time x0.1: the payment expires 9 s after a prompt. At x0.05 (4.5 s) a whole run's load
    # delayed a buyer's "send again" past it now and then, and the order had expired by the
    # service's rules before the request was read: the plan's outcome, not the service's.
    argv = ["--buyers", "60", "--over", "3", "--seats", "40", "--time-scale", "0.1", *more]
    payload = flash_sale.cli([*argv, *out])
    no_errors(payload)
    audit = payload["audit"]
    # Sold out while prompts were open, and nothing sold twice: the store's seats are the
    # paid ones, every paid buyer saw it, has tickets and a sent tickets e-mail.
    assert payload["sold_out"] > 0
    assert audit["oversold"] == 0 and audit["problems"] == []
    assert audit["sold"] == audit["paid_seats"] == payload["paid"] > 0
    assert payload["missing_tickets"] == 0 and audit["paid_without_ticket_email"] == 0
    assert audit["unsent_emails"] == 0 and audit["sent_emails"] >= payload["paid"]
    # Every way a payment can end was met, and the prompt was sent again.
    assert set(payload["outcomes"]) == {"completed", "cancelled", "failed", "expired"}
    assert payload["sent_again"] > 0
    return payload


@pytest.mark.waits
@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_flash_sale_small(out: list[str], store: str, request: pytest.FixtureRequest) -> None:
    if store == "postgres":
        request.getfixturevalue("bench_postgres")
    payload = flash_sale_small(out, "--store", store)
    assert payload["callback_to_screen_ms_by_kind"].keys() == {"sse", "wait"}


@pytest.mark.waits
def test_flash_sale_polling(out: list[str]) -> None:
    payload = flash_sale_small(out, "--poll", "5")
    assert payload["transport"] == "poll" and payload["server"]["status_requests"] > 0


@pytest.mark.waits
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


@pytest.mark.usefixtures("bench_postgres")
@pytest.mark.parametrize("listeners", ["own", "shared"])
def test_hundred_k_small(out: list[str], redis_url: str, listeners: str) -> None:
    # A short hold: a closed /wait is noticed when its hold ends, and the workers' graceful
    # shutdown waits for it.
    argv = ["--waiters", "200", "--workers", "2", "--clients", "2", "--complete", "50", "--hold", "3"]
    argv += ["--listeners", listeners]
    payload = hundred_k.cli([*argv, "--settle", "0.2", "--redis", redis_url, *out])
    no_errors(payload)
    assert payload["held"] == 200
    assert payload["delivered"] == payload["completed"] == 50
    assert {k: v["count"] for k, v in payload["latency_ms_by_kind"].items()} == {"sse": 25, "wait": 25}
    workers = payload["per_worker"]
    assert len(workers) == 2 and sum(w["held"] for w in workers) == 200
    # One broker connection set per process, whatever the number of waiters it holds.
    assert all(w["redis_connections_all"] == w["redis_connections_first"] for w in workers)
    assert payload["stopped_by"] == []


def test_hundred_k_tells_postgres_refusals_from_max_waiters() -> None:
    limits = hundred_k.Limits(open_files=20000, ports_per_source=28232, memory_available_mb=20000)
    refused = Counter({"wait: HTTP 503": 3})
    log = "store unavailable on GET /api/orders/x/wait: TooManyConnectionsError: sorry, too many clients"
    found = hundred_k.diagnose(refused, log, [10_000, 10_000], 2, limits)
    assert len(found) == 1 and found[0].startswith("PostgreSQL connections")
    assert hundred_k.diagnose(refused, "", [10_000, 10_000], 2, limits)[0].startswith("MAX_WAITERS")


def compare_small(out: list[str], redis_url: str, servers: str, *more: str) -> dict[str, Any]:
    argv = ["--servers", servers, "--waiters", "200", "--messages", "40", "--settle", "0.2", "--no-pin"]
    payload = compare.cli([*argv, *more, "--redis", redis_url, *out])
    no_errors(payload)
    for result in payload["results"]:
        assert result["held_on_server"] == 200, result["server"]
        for way in result["ways"].values():
            assert way["delivered"] == way["messages"] == 40
            assert (
                way["latency_ms_by_kind"]["sse"]["count"] == way["latency_ms_by_kind"]["wait"]["count"] == 20
            )
    return payload


def test_compare_this_service_and_the_naive_peer(out: list[str], redis_url: str) -> None:
    payload = compare_small(out, redis_url, "service,naive", "--flood", "40")
    ours, naive = payload["results"]
    # The payment's whole path and its part after the commit, beside the bare publish, and
    # bare publishes back to back: deliveries a second.
    assert set(ours["ways"]) == {"callback", "publish", "flood"}
    assert ours["commit_to_waiter_ms"]["count"] == 40
    assert set(naive["ways"]) == {"publish", "flood"}
    assert all(way["delivered_per_second"] > 0 for r in (ours, naive) for way in r["ways"].values())


@pytest.mark.skipif(nchan.missing() is not None, reason=f"bench.compare's Nchan: {nchan.missing()}")
def test_compare_nchan(out: list[str], redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # nginx closes a keep-alive connection after `keepalive_requests`: with 40 paced publishes
    # and 40 back to back on a limit of 30, the publisher crosses it twice and carries on.
    monkeypatch.setattr(nchan.Nchan, "keepalive_requests", 30)
    payload = compare_small(out, redis_url, "nchan", "--flood", "40")
    assert [r["server"] for r in payload["results"]] == ["nchan"]
    assert set(payload["results"][0]["ways"]) == {"publish", "flood"}


def test_a_profile_summary_counts_each_function_once_per_sample(tmp_path: Path) -> None:
    collapsed = tmp_path / "profile.txt"
    collapsed.write_text(
        "run (asyncio/runners.py:1);apply (server/transitions/changes.py:10);"
        "apply (server/transitions/changes.py:12);execute (sqlite3/x.py:3) 3\n"
        "run (asyncio/runners.py:1);compose (server/mail/messages.py:5) 1\n"
    )
    found = dict((name, percent) for percent, name in profiling.summary(collapsed))
    # Recursion or two lines of one function count a sample once; stdlib frames are left out.
    assert found == {"apply (transitions/changes.py)": 75.0, "compose (mail/messages.py)": 25.0}


def test_a_loop_share_counts_only_the_event_loop_threads_samples(tmp_path: Path) -> None:
    collapsed = tmp_path / "profile.txt"
    loop = "main (server/launcher.py:1);asyncio_run (uvicorn/_compat.py:30)"
    collapsed.write_text(
        f"{loop};deliver_due (server/mail/delivery.py:9) 1\n"
        f"{loop};apply (server/transitions/x.py:1) 3\n"
        # Another thread's samples: not the loop's, whatever they contain.
        "_bootstrap (threading.py:1);run (server/mail/delivery.py:2) 4\n"
    )
    assert profiling.loop_share(collapsed, "server/mail/") == 25.0


def test_the_sales_callback_time_is_its_samples_over_the_rate_not_a_share_of_idle_ones(
    tmp_path: Path,
) -> None:
    collapsed = tmp_path / "profile.txt"
    loop = "main (server/launcher.py:1);asyncio_run (uvicorn/_compat.py:30)"
    route = f"{loop};{flash_sale.CALLBACK_FRAME}routes/payhero_webhook.py:46)"
    collapsed.write_text(
        f"{route};apply (server/transitions/changes.py:1) {profiling.RATE}\n"
        f"{loop};create_order (server/routes/checkout_api.py:82) {profiling.RATE}\n"
        # A thread idle in a wait is sampled too: it must not dilute the callback's time.
        f"_bootstrap (threading.py:1);wait (threading.py:2) {8 * profiling.RATE}\n"
    )
    found = flash_sale._callback_profile(collapsed, callbacks=100)
    assert found["samples_share_percent"] == 50.0
    assert found["cpu_ms_per_callback"] == 10.0  # one second over 100 callbacks


def _audit(**figures: int) -> Audit:
    clean = dict.fromkeys(Audit.__dataclass_fields__, 0)
    return Audit(**{**clean, "capacity": 100, **figures})


def test_the_sales_audit_counts_seats_open_orders_hold_as_held_not_lost() -> None:
    # A sale past the host ends with orders still open; their seats are sold, not leaked.
    held = _audit(sold=90, paid_seats=80, paid_tickets=80, open_orders=4, open_seats=10)
    assert held.problems == ["open_orders: 4"]
    leaked = _audit(sold=90, paid_seats=80, paid_tickets=80, open_orders=1, open_seats=2)
    assert leaked.problems == [
        "seats sold 90 != seats paid 80 + held by open orders 2 (seats lost or leaked)",
        "open_orders: 1",
    ]


def test_schema_cost_measures_three_ways_that_agree() -> None:
    # Not timed: the three parsers and answers it times must do the same work.
    valid = schema_cost.parse_handwritten(schema_cost.VALID)
    assert (
        schema_cost.parse_pydantic(schema_cost.VALID) == valid == schema_cost.parse_msgspec(schema_cost.VALID)
    )
    for parse in (schema_cost.parse_handwritten, schema_cost.parse_pydantic, schema_cost.parse_msgspec):
        schema_cost.refusing(parse)()
    answers = (schema_cost.answer_handwritten, schema_cost.answer_pydantic, schema_cost.answer_msgspec)
    assert len({json.dumps(json.loads(answer()), sort_keys=True) for answer in answers}) == 1


def test_callback_overheads() -> None:
    # Not timed: every piece runs both ways, and leaves logging's switches as it found them.
    switches = (logging._srcfile, logging.logThreads, logging.logProcesses)
    rows = callback_overheads.cli(["--rounds", "1", "--number", "2"])
    # Values on both dialects, the log lines' record and format, their writes (a file and a
    # pipe, all in a turn and one a turn), the store kind.
    assert len(rows) == 8 and all(row["before"] > 0 and row["after"] > 0 for row in rows)
    assert (logging._srcfile, logging.logThreads, logging.logProcesses) == switches


def test_mail_loop(out: list[str]) -> None:
    # Not timed: each sender delivers every e-mail of the round, and what the composing
    # process hands back is the flattened e-mail.
    payload = mail_loop.cli(["--orders", "2", "--rounds", "1", *out])
    assert [r["sender"] for r in payload["results"]] == ["null", "eml", "smtp"]
    assert payload["results"][0]["handed"] == ["OutgoingMail"]
    assert all(r["loop_us_per_email"] > 0 for r in payload["results"])


def test_log_cost(out: list[str]) -> None:
    # Not timed: every way it times redacts the payment's lines as the service does.
    payload = log_cost.cli(["--rounds", "1", "--number", "2", *out])
    assert set(payload["redact"]) == {"before", "pre-checks only", "anchored pattern only", "now"}
    assert all(rate > 0 for group in ("redact", "format") for rate in payload[group].values())


def test_qr_reductions() -> None:
    # The page's hard cases, read at a half, a quarter, a fifth; and three ordinary ones.
    hard = [MISSED_AT_FULL_SIZE, READ_ONLY_AT_A_QUARTER, READ_ONLY_AT_A_FIFTH]
    codes = [*hard, *qr_reductions.ticket_codes(3, seed=1)]
    reductions = [1.0, 2.0, 3.0, 4.0, 5.0]
    table = qr_reductions.summary(qr_reductions.decode_all(codes, reductions), reductions)
    for scaling in ("bilinear", "area"):
        assert table[scaling]["cycle"]["1,2,3,4"] == 5, table  # type: ignore[index]
        assert table[scaling]["missed by the whole cycle"] == [], table  # type: ignore[index]


# Reads a count per line, adds that many numbers in a Python loop, and says "done".
COUNTING_WORKER = """
import sys
print("ready", flush=True)
for line in sys.stdin:
    total = 0
    for number in range(int(line)):
        total += number
    print("done", flush=True)
"""


@pytest.mark.skipif(
    shutil.which("callgrind_control") is None, reason="bench.throughput --instructions needs valgrind"
)
async def test_instructions_count_the_work_done_inside_the_block(tmp_path: Path) -> None:
    """`--instructions` (bench/instructions.py) counts what the process runs between the
    block's start and end: twice the work, twice the count; none of what ran outside."""
    process = await asyncio.create_subprocess_exec(
        *instructions.callgrind_command(tmp_path),
        sys.executable,
        "-c",
        COUNTING_WORKER,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert process.stdin is not None and process.stdout is not None
    stdin, stdout = process.stdin, process.stdout

    async def work(numbers: int) -> None:
        stdin.write(f"{numbers}\n".encode())
        await stdin.drain()
        assert await asyncio.wait_for(stdout.readline(), 120) == b"done\n"

    try:
        assert await asyncio.wait_for(stdout.readline(), 120) == b"ready\n"
        await work(300_000)  # before any block: not counted
        counts = []
        for numbers in (100_000, 200_000):
            async with instructions.counted(process.pid, tmp_path) as count:
                await work(numbers)
            assert count is not None
            counts.append(count.instructions)
    finally:
        stdin.close()
        await asyncio.wait_for(process.wait(), 120)
    one, two = counts
    assert one > 100_000 * 10  # a Python loop's step is tens of instructions
    assert 1.8 < two / one < 2.2, counts
