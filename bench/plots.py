"""The PNG plots of docs/BENCHMARKS.md, drawn from the scenarios' JSON results.

    pip install -e '.[bench]'      # matplotlib: a bench-only dependency
    python -m bench.plots          # reads bench/results/*-latest.json, writes docs/img/

- fanout-latency.png: the distribution of callback sent -> status received, at the largest
  number of waiters held in the latest `bench.fanout` run;
- waiters.png: server memory (latest `bench.idle_waiters`) and fan-out latency (latest
  `bench.fanout`) against the number of waiters held.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from bench.report import RESULTS
from bench.system import REPO

IMAGES = REPO / "docs" / "img"


def _load(folder: Path, scenario: str) -> dict[str, Any]:
    path = folder / f"{scenario}-latest.json"
    if not path.exists():
        raise SystemExit(f"{path} is missing: run python -m bench.{scenario} first")
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def latency_distribution(fanout: dict[str, Any], out: Path) -> Path:
    import matplotlib.pyplot as plt

    result = max(fanout["results"], key=lambda r: r["held"])
    values = result["latencies_ms"]
    lat = result["latency_ms"]
    fig, (hist, cdf) = plt.subplots(1, 2, figsize=(11, 4))
    hist.hist(values, bins=60, color="#4477aa")
    hist.set_xlabel("callback sent -> status received (ms)")
    hist.set_ylabel("payments")
    hist.set_title(f"{result['completed']:,} payments, {result['held']:,} waiters held")
    for name, colour in (("p50", "#228833"), ("p99", "#cc3311")):
        hist.axvline(lat[name], color=colour, linestyle="--", label=f"{name} {lat[name]:.1f} ms")
    hist.legend()
    ordered = sorted(values)
    cdf.plot(ordered, [(i + 1) / len(ordered) for i in range(len(ordered))], color="#4477aa")
    cdf.set_xscale("log")
    cdf.set_xlabel("ms (log scale)")
    cdf.set_ylabel("fraction delivered within")
    cdf.set_title("cumulative")
    cdf.grid(True, alpha=0.3)
    fig.suptitle(f"Fan-out latency ({fanout['store']}, one callback sender; {fanout['finished_at'][:10]})")
    fig.tight_layout()
    path = out / "fanout-latency.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def against_waiters(idle: dict[str, Any], fanout: dict[str, Any], out: Path) -> Path:
    import matplotlib.pyplot as plt

    fig, (memory, latency) = plt.subplots(1, 2, figsize=(11, 4))
    runs = idle["results"]
    sizes = [r["size"] for r in runs]
    memory.plot(sizes, [r["rss_all_kb"] / 1024 for r in runs], "o-", label="server RSS, all held (MB)")
    memory.plot(sizes, [r["rss_base_kb"] / 1024 for r in runs], "o--", label="server RSS, none held (MB)")
    memory.set_xlabel("waiters held (half SSE, half /wait)")
    memory.set_ylabel("MB")
    memory.set_ylim(bottom=0)
    per = memory.twinx()
    per.plot(sizes, [r["kb_per_sse"] for r in runs], "s:", color="#cc3311", label="KB per SSE stream")
    per.plot(sizes, [r["kb_per_wait"] for r in runs], "^:", color="#228833", label="KB per held /wait")
    per.axhline(24, color="#cc3311", linewidth=0.8, alpha=0.5)
    per.axhline(12, color="#228833", linewidth=0.8, alpha=0.5)
    per.text(sizes[0], 24.3, "target per SSE stream", color="#cc3311", fontsize=7)
    per.text(sizes[0], 12.3, "target per held /wait", color="#228833", fontsize=7)
    per.set_ylabel("KB per waiter")
    per.set_ylim(0, max(30.0, *(r["kb_per_sse"] for r in runs)) * 1.1)
    lines = memory.get_legend_handles_labels()
    extra = per.get_legend_handles_labels()
    memory.legend(lines[0] + extra[0], lines[1] + extra[1], fontsize=8, loc="upper left")
    memory.set_title("memory (bench.idle_waiters)")
    memory.grid(True, alpha=0.3)

    runs = sorted(fanout["results"], key=lambda r: r["held"])
    held = [r["held"] for r in runs]
    for name, marker in (("p50", "o-"), ("p90", "s-"), ("p99", "^-")):
        latency.plot(held, [r["latency_ms"][name] for r in runs], marker, label=name)
    for target in (5, 50):
        latency.axhline(target, color="grey", linewidth=0.8, linestyle=":")
        latency.text(held[0], target * 1.05, f"target {'p50' if target == 5 else 'p99'}", fontsize=7)
    latency.set_xlabel("waiters held")
    latency.set_ylabel("callback sent -> status received (ms)")
    latency.set_ylim(bottom=0)
    latency.legend()
    latency.set_title("fan-out latency (bench.fanout)")
    latency.grid(True, alpha=0.3)
    fig.tight_layout()
    path = out / "waiters.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.plots", description=__doc__)
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the *-latest.json files are")
    parser.add_argument("--out", type=Path, default=IMAGES, help="where the PNGs go")
    args = parser.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    args.out.mkdir(parents=True, exist_ok=True)
    fanout = _load(args.results, "fanout")
    print(latency_distribution(fanout, args.out))
    print(against_waiters(_load(args.results, "idle_waiters"), fanout, args.out))


if __name__ == "__main__":
    main()
