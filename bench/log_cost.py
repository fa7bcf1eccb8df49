"""What a payment's log lines cost the service: `python -m bench.log_cost`.

Lines per second on one core, best of several rounds, for the lines a payment writes on the
benchmarks' path (the service's own INFO lines and uvicorn's access line of the callback),
as the service's formatter writes them with the secrets a sandbox holds:
- redact: `server.logs.redact` on the finished lines, four ways: as it was before the
  pre-checks and the anchored pattern (`redact_before`, kept here verbatim: it is also the
  reference tests/test_redaction_equivalence.py compares against), with only the pre-checks,
  with only the anchored pattern, and as it is now;
- format: a LogRecord to its redacted line, text and JSON, as a handler calls it.
Nothing here starts the service.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import timeit
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from server import logs
from server.logs import JsonFormatter, RedactingFormatter

# server/logs.py's patterns before 2026-11-29 (at 478cedf), in the order they ran.
BEFORE_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s'\"]*:)[^@\s'\"/]+@"), r"\1***@"),
    (
        re.compile(
            r"(?i)(\bauthorization\b['\"]?\s*[:=,]\s*(?:b?['\"])?(?:(?:bearer|basic|token)\s+)?)[^\s'\",)}\]]+"
        ),
        r"\1***",
    ),
    (re.compile(r"(/api/payhero/callback/)(?!\{token\})[^/\s?#'\"]+"), r"\1***"),
    (
        re.compile(
            r"(?i)(\b[\w-]*?(?:password|passwd|secret|token|api[_-]?key|signing[_-]key)"
            r"[\"']?\s*[:=]\s*[\"']?)[^\s'\",&}]+"
        ),
        r"\1***",
    ),
)


def redact_before(line: str, safety_net: re.Pattern[str] | None = None) -> str:
    """`server.logs.redact` as it was: every pattern on every line."""
    for pattern, replacement in BEFORE_PATTERNS:
        line = pattern.sub(replacement, line)
    if safety_net is not None:
        line = safety_net.sub("***", line)
    return line


def _prechecks_only(line: str, safety_net: re.Pattern[str] | None = None) -> str:
    lowered = line.lower() if line.isascii() else None
    for (pattern, replacement), (_, _, needles) in zip(BEFORE_PATTERNS, logs._WHERE_SECRETS_SIT, strict=True):
        if lowered is None or any(needle in lowered for needle in needles):
            line = pattern.sub(replacement, line)
    return safety_net.sub("***", line) if safety_net is not None else line


def _anchored_only(line: str, safety_net: re.Pattern[str] | None = None) -> str:
    for pattern, replacement, _ in logs._WHERE_SECRETS_SIT:
        line = pattern.sub(replacement, line)
    return safety_net.sub("***", line) if safety_net is not None else line


# Secrets shaped as a sandbox run by bench/service.py holds them.
CALLBACK_TOKEN = "bench-" + "5f" * 16
SECRETS = (CALLBACK_TOKEN, "k" * 43)  # the callback token, the ticket signing key
ORDER = "Xq3vT0b9RkqJmA1c2d3e4f"
# (logger, message, args, extra): a payment on the benchmarks' path, in the order written.
PAYMENT_LINES: tuple[tuple[str, str, tuple[object, ...], dict[str, object]], ...] = (
    (
        "server.orders.checkout",
        "order created order=%s number=%s %dx %s/%s amount=%d phone=%s",
        (ORDER, "ORD-20261129-7KQ2MX", 2, "demo-fest", "early-bird", 2000, "2547*****678"),
        {},
    ),
    (
        "server.payments.pushes",
        "stk push sent order=%s attempt=%d reference=%s checkout=%s",
        (ORDER, 1, "SBX-4f1c2a9e", "ws_CO_291120261846001234"),
        {},
    ),
    (
        "uvicorn.access",
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:51234", "POST", f"/api/payhero/callback/{CALLBACK_TOKEN}", "1.1", 200),
        {},
    ),
    (
        "server.transitions.changes",
        "status changed order=%s %s -> %s version=%d source=%s",
        (ORDER, "processing", "paid", 3, "callback"),
        {},
    ),
    (
        "server.transitions.outbox_rows",
        "outbox order=%s e-mails queued=%s",
        (ORDER, "confirmation,tickets,receipt"),
        {},
    ),
)


def payment_records() -> list[logging.LogRecord]:
    made = []
    for name, message, args, extra in PAYMENT_LINES:
        record = logging.LogRecord(name, logging.INFO, __file__, 1, message, args, None)
        record.__dict__.update(extra)
        made.append(record)
    return made


Redaction = Callable[[str, re.Pattern[str] | None], str]


def _with_net(redact: Redaction, net: re.Pattern[str] | None, line: str) -> str:
    return redact(line, net)


def _each(work: Callable[[Any], object], items: Sequence[Any]) -> None:
    for item in items:
        work(item)


def lines_per_second(work: Callable[[], object], lines: int, rounds: int, number: int) -> float:
    best = min(timeit.repeat(work, number=number, repeat=rounds))
    return lines * number / best


def measure(rounds: int = 5, number: int = 2000) -> dict[str, Any]:
    records = payment_records()
    text = RedactingFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"), SECRETS)
    json_formatter = RedactingFormatter(JsonFormatter(), SECRETS)
    lines = [text.inner.format(record) for record in records]
    net = text.safety_net
    redactions: dict[str, Callable[[str], str]] = {
        "before": partial(_with_net, redact_before, net),
        "pre-checks only": partial(_with_net, _prechecks_only, net),
        "anchored pattern only": partial(_with_net, _anchored_only, net),
        "now": text.redact,
    }
    results: dict[str, Any] = {"lines": len(lines), "redact": {}, "format": {}}
    for name, redact in redactions.items():
        assert [redact(line) for line in lines] == [redact_before(line, net) for line in lines]
        results["redact"][name] = lines_per_second(partial(_each, redact, lines), len(lines), rounds, number)
    for name, formatter in (("text", text), ("json", json_formatter)):
        results["format"][f"{name}, unredacted"] = lines_per_second(
            partial(_each, formatter.inner.format, records), len(records), rounds, number
        )
        results["format"][f"{name}, redacted"] = lines_per_second(
            partial(_each, formatter.format, records), len(records), rounds, number
        )
    return results


def cli(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--number", type=int, default=2000, help="passes over the lines per round")
    parser.add_argument("--out", type=Path, help="also write the figures here as log_cost.json")
    args = parser.parse_args(argv)
    results = measure(args.rounds, args.number)
    print(f"{results['lines']} payment log lines, lines per second on one core (best of {args.rounds})")
    for group in ("redact", "format"):
        for name, rate in results[group].items():
            micros = 1e6 / rate
            print(f"  {group:7} {name:24} {rate:12,.0f} /s  {micros:6.2f} us/line")
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "log_cost.json").write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    cli()
