"""Which frame sizes the gate's camera decoder needs: random ticket codes, decoded in node.

    python -m bench.qr_reductions [--codes 10000] [--seed 1] [--reductions 1,2,3,4,5]

The gate page (web/static/gate-frames.js) reads each camera look at the next of a few
widths: the vendored decoder finds no finder pattern in some codes' sharp images at one
size and reads them at another. This signs `--codes` random ticket ids as the service signs
them, draws each code as the camera test draws it (tests/test_gate_camera.py: 640x480, the
QR filling its height), makes each frame smaller by every reduction two ways (bilinear, as
a canvas samples; an area average), decodes each with the vendored decoder in node, and
prints how many codes each reduction reads alone and each leading run of reductions reads
together (what the page's cycle of looks reads), with the codes the whole cycle misses.
Needs node.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import shutil
import subprocess
from pathlib import Path

from server.tickets.codes import TicketSigner
from server.tickets.qr import _qr

HERE = Path(__file__).parent
DECODER = HERE.parent / "web" / "static" / "vendor" / "zxing-library" / "index.min.js"
SIGNER = TicketSigner("bench-signing-key-0123456789abcdef")


def ticket_codes(count: int, seed: int) -> list[str]:
    """Ticket codes as the service signs them, for ticket ids drawn as the checkout draws
    them (12 random bytes, URL-safe), from `seed` so that a run can be repeated."""
    rng = random.Random(seed)
    ids = (base64.urlsafe_b64encode(rng.randbytes(12)).decode("ascii") for _ in range(count))
    return [SIGNER.sign(ticket_id, "demo-fest", "early-bird") for ticket_id in ids]


def modules(code: str) -> list[str]:
    return ["".join("1" if dark else "0" for dark in row) for row in _qr(code).get_matrix()]


def decode_all(codes: list[str], reductions: list[float]) -> list[dict[str, object]]:
    node = shutil.which("node")
    if node is None:
        raise SystemExit("bench.qr_reductions needs node")
    lines = "".join(json.dumps({"code": code, "m": modules(code)}) + "\n" for code in codes)
    command = [node, str(HERE / "qr_reductions.js"), str(DECODER), ",".join(map(str, reductions))]
    done = subprocess.run(command, input=lines, capture_output=True, text=True, check=True)
    return [json.loads(line) for line in done.stdout.splitlines()]


def summary(results: list[dict[str, object]], reductions: list[float]) -> dict[str, object]:
    table: dict[str, object] = {"codes": len(results)}
    for scaling in ("bilinear", "area"):
        read_by = [set(map(float, result[scaling])) for result in results]  # type: ignore[call-overload]
        alone = {f"{r:g}": sum(r in read for read in read_by) for r in reductions}
        cycles = {
            ",".join(f"{r:g}" for r in reductions[: n + 1]): sum(
                bool(read & set(reductions[: n + 1])) for read in read_by
            )
            for n in range(len(reductions))
        }
        missed = [r["code"] for r, read in zip(results, read_by, strict=True) if not read]
        table[scaling] = {"alone": alone, "cycle": cycles, "missed by the whole cycle": missed}
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codes", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--reductions", default="1,2,3,4,5")
    args = parser.parse_args()
    reductions = [float(r) for r in args.reductions.split(",")]
    results = decode_all(ticket_codes(args.codes, args.seed), reductions)
    print(json.dumps(summary(results, reductions), indent=2))


if __name__ == "__main__":
    main()
