"""bench.flash_sale's tables: the sale, its targets, and what the store says."""

from __future__ import annotations

from typing import Any

from bench.report import table

# Issue 22's targets for the 5,000-buyer sale (this machine, the client sharing its cores).
TARGETS = {
    "callback -> screen p99 ms": 20.0,
    "callback -> screen max ms": 100.0,
    "checkout (service's part) p99 ms": 50.0,
    "e-mails drained after last payment s": 60.0,
}


def _ms(summary: dict[str, Any], key: str) -> float:
    return float(summary.get(key, float("nan")))


def _spread(summary: dict[str, Any]) -> str:
    p50, p99, top = _ms(summary, "p50"), _ms(summary, "p99"), _ms(summary, "max")
    return f"p50 {p50:.1f}  p99 {p99:.1f}  max {top:.1f}  (n={summary.get('count', 0)})"


def _or_nan(value: float | None) -> float:
    """A figure, or nan where there is none (0 is a figure: a share of 0% prints as 0)."""
    return float("nan") if value is None else value


def print_report(payload: dict[str, Any]) -> None:
    audit = payload["audit"]
    p = payload
    title = (
        f"Flash sale: {p['buyers']:,} buyers over {p['over_s']:g} s for {p['seats']:,} seats, "
        f"{p['store']}, {p['workers']} worker(s), {p['transport']}, time x{p['time_scale']:g}"
    )
    rows: list[list[Any]] = [
        ["orders placed / sold out", f"{payload['placed']:,} / {payload['sold_out']:,}"],
        [
            "paid (screens) / seats paid (store) / sold (store)",
            f"{payload['paid']:,} / {audit['paid_seats']:,} / {audit['sold']:,}",
        ],
        ["oversold", audit["oversold"]],
        ["final statuses", ", ".join(f"{k} {v}" for k, v in sorted(payload["outcomes"].items()))],
        ["checkout answers", ", ".join(f"{k}: {v}" for k, v in sorted(payload["checkouts"].items()))],
        ["prompts sent again", payload["sent_again"]],
        ["callbacks sent (incl. duplicates, late)", payload["callbacks_sent"]],
    ]
    for name, summary in (
        ("checkout, service's part (ms)", payload["checkout_own_ms"]),
        ("checkout, whole as the buyer saw it (ms)", payload["checkout_whole_ms"]),
        ("sold-out answer (ms)", payload["sold_out_answer_ms"]),
        ("callback -> screen (ms)", payload["callback_to_screen_ms"]),
        *((f"  of which {k} (ms)", v) for k, v in payload["callback_to_screen_ms_by_kind"].items()),
    ):
        rows.append(
            [
                name,
                _spread(summary),
            ]
        )
    drained_s = _or_nan(payload["emails_drained_after_last_payment_s"])
    rows += [
        [
            "e-mails sent / unsent; drained after last payment",
            f"{audit['sent_emails']:,} / {audit['unsent_emails']}; {drained_s:.1f} s",
        ],
        [
            "RSS peak / end (MB, service processes)",
            f"{payload['rss_peak_mb']:.0f} / {payload['rss_end_mb']:.0f}",
        ],
        [
            "service CPU s (web / other / total)",
            "{web_s:.1f} / {other_s:.1f} / {total_s:.1f}".format(**payload["cpu_s"]),
        ],
        ["service CPU per paid order (ms)", _or_nan(payload["cpu_ms_per_paid_order"])],
        ["client requests per paid order", payload["client_requests"] / max(1, payload["paid"])],
    ]
    server = payload.get("server")
    if server:
        paid = max(1, payload["paid"])
        rows += [
            ["status requests per paid order (service)", server["status_requests"] / paid],
            [
                "store reads per paid order (all / one-order reads)",
                f"{server['store_reads'] / paid:.1f} / {server['store_single_reads'] / paid:.1f}",
            ],
        ]
    if server and "callback_request_p99_le_ms" in server:
        rows.append(
            [
                "inside the service, p99 at most: callback request / commit -> waiters (ms)",
                f"{server['callback_request_p99_le_ms']:,.0f} / {server['fan_out_p99_le_ms']:,.0f}",
            ]
        )
    lag = payload.get("client_loop_lag_ms")
    if lag:
        rows.append(
            [
                "load client's own loop lag: max (ms) / seconds over 100 ms",
                f"{lag['max']:,.0f} / {lag['seconds_over_100_ms']}",
            ]
        )
    stalls = payload.get("service_stalls")
    if stalls is not None:
        said = "none"
        if stalls:
            worst = stalls[0]
            parts = (worst["lag_ms"], worst["gc_ms"], worst["cpu_ms"], worst["window_ms"])
            said = "{:,.0f} ({:,.0f} / {:,.0f} of {:,.0f})".format(*parts)
        rows.append(
            [
                "service's own loop stalls over 100 ms: count; the longest (ms: GC / on CPU of window)",
                f"{len(stalls)}; {said}",
            ]
        )
    slow = payload.get("slow_screens_by_second") or []
    if slow:
        shown = ", ".join(f"{s['second']} s: {s['count']} (max {s['max_ms']:,.0f} ms)" for s in slow[:12])
        more = f", and {len(slow) - 12} more seconds" if len(slow) > 12 else ""
        rows.append(["screens over 100 ms, by second of the sale their callback was sent", shown + more])
    rows.append(["errors", payload["errors"]])
    print(table(title, ["what", "figure"], rows))
    measured = {
        "callback -> screen p99 ms": _ms(payload["callback_to_screen_ms"], "p99"),
        "callback -> screen max ms": _ms(payload["callback_to_screen_ms"], "max"),
        "checkout (service's part) p99 ms": _ms(payload["checkout_own_ms"], "p99"),
        "e-mails drained after last payment s": drained_s,
    }
    target_rows = [
        [name, limit, measured[name], "met" if measured[name] <= limit else "MISSED"]
        for name, limit in TARGETS.items()
    ]
    target_rows.append(["errors", 0, payload["errors"], "met" if payload["errors"] == 0 else "MISSED"])
    target_rows.append(["oversold", 0, audit["oversold"], "met" if audit["oversold"] == 0 else "MISSED"])
    print()
    print(table("Issue 22's targets", ["target", "limit", "measured", ""], target_rows))
    for key in ("wrong_final", "buyer_errors", "stand_in_failures", "log_errors"):
        if payload.get(key):
            print(f"\n{key}:")
            for line in payload[key]:
                print(f"  {line}")
    if audit["problems"]:
        print("\nstore problems:\n  " + "\n  ".join(audit["problems"]))
    profile = payload.get("profile_callbacks")
    if profile:
        print(
            f"\nprofile: {payload['profile']}; callback route"
            f" {profile['samples_share_percent']:.1f}% of the event loop's samples,"
            f" ~{_or_nan(profile['cpu_ms_per_callback']):.2f} ms CPU per callback. Within the callback route:"
        )
        for percent, name in profile["top_within_callback"][:20]:
            print(f"  {percent:5.1f}%  {name}")
