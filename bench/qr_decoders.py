"""The gate's QR decoder, chosen by measurement: decode time per 640x480 frame in Chromium.

    python -m bench.qr_decoders [--frames 60]

Where a browser has no `BarcodeDetector` (iPhone, Firefox, a laptop), the gate page decodes
camera frames itself. This packs each candidate from npm (`npm pack`, into a temporary
folder), serves it with a measuring page from 127.0.0.1, and in headless Debian Chromium
decodes `--frames` frames of 640x480 RGBA pixels, as `getImageData` hands them over from a
camera: one with a real ticket's QR (a 39-character signed code, 300 px across, on a noisy
grey background) and one with no QR at all (what the camera sees between tickets, when a
decoder searches the whole frame and finds nothing). It prints the median and 90th
percentile per frame, whether the code was read, the bytes the page must fetch (raw and
gzipped) and the licence, and writes JSON under bench/results/. The measuring page has no
CSP, so the wasm candidates can run; the gate page's CSP (server/routes/pages.py) is noted
beside each.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gzip
import json
import subprocess
import tarfile
import tempfile
import threading
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from playwright.async_api import async_playwright

from server.tickets.codes import TicketSigner
from server.tickets.qr import qr_png

CHROMIUM = "/usr/bin/chromium"
RESULTS = Path(__file__).parent / "results"


@dataclass(frozen=True)
class Candidate:
    name: str
    package: str
    # Files the page loads, relative to the package folder.
    files: tuple[str, ...]
    csp: str


ZXING_WASM = "../../zxing-wasm-3.1.3/package/dist/reader/zxing_reader.wasm"
WASM = "script-src 'wasm-unsafe-eval'"
# Setups are in bench/qr_decoders.html, by name.
CANDIDATES = (
    Candidate("jsqr", "jsqr@1.4.0", ("dist/jsQR.js",), "none"),
    Candidate("@zxing/library", "@zxing/library@0.23.0", ("umd/index.min.js",), "none"),
    Candidate(
        "zxing-wasm", "zxing-wasm@3.1.8", ("dist/iife/reader/index.js", "dist/reader/zxing_reader.wasm"), WASM
    ),
    # barcode-detector's engine is the zxing-wasm version it pins, packed beside it.
    Candidate("barcode-detector", "barcode-detector@3.2.2", ("dist/iife/ponyfill.js", ZXING_WASM), WASM),
    Candidate(
        "qr-scanner",
        "qr-scanner@1.4.2",
        ("qr-scanner.umd.min.js", "qr-scanner-worker.min.js"),
        "worker-src blob: (its worker is made from a Blob URL)",
    ),
)
EXTRA_PACKAGES = ("zxing-wasm@3.1.3",)
PAGE = Path(__file__).with_suffix(".html")


def pack(spec: str, into: Path) -> Path:
    """`npm pack` one package into `into` and unpack it; the package's folder."""
    name = subprocess.run(
        ["npm", "pack", spec, "--silent"], cwd=into, check=True, capture_output=True, text=True
    ).stdout.split()[-1]
    folder = into / name.removesuffix(".tgz")
    with tarfile.open(into / name) as archive:
        archive.extractall(folder, filter="data")
    return folder / "package"


def serve(root: Path) -> tuple[ThreadingHTTPServer, str]:
    class Quiet(SimpleHTTPRequestHandler):
        extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".wasm": "application/wasm"}

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


async def measure(frames: int) -> list[dict[str, object]]:
    code = TicketSigner("bench-signing-key-0123456789abcdef").sign("t" * 22, "demo-fest", "early-bird")
    qr_url = "data:image/png;base64," + base64.b64encode(qr_png(code)).decode()
    results: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        (root / "index.html").write_text(PAGE.read_text())
        folders = {candidate.name: pack(candidate.package, root) for candidate in CANDIDATES}
        for spec in EXTRA_PACKAGES:
            pack(spec, root)
        server, base_url = serve(root)
        try:
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
                for candidate in CANDIDATES:
                    folder = folders[candidate.name]
                    base = "/" + folder.relative_to(root).as_posix() + "/"
                    page = await browser.new_page()
                    await page.goto(base_url + "/index.html")
                    for file in candidate.files:
                        if file.endswith(".js"):
                            await page.add_script_tag(url=base + file)
                    answer = await page.evaluate(
                        "([n, b, q, f]) => window.run(n, b, q, f)", [candidate.name, base, qr_url, frames]
                    )
                    await page.close()
                    files = [(folder / file).read_bytes() for file in candidate.files]
                    manifest = json.loads((folder / "package.json").read_text())
                    results.append(
                        {
                            "name": candidate.name,
                            "version": manifest["version"],
                            "licence": manifest.get("license"),
                            "read_the_code": answer["withQr"]["text"] == code,
                            "setup_ms": round(answer["setupMs"], 1),
                            "qr_median_ms": round(answer["withQr"]["median"], 1),
                            "qr_p90_ms": round(answer["withQr"]["p90"], 1),
                            "empty_median_ms": round(answer["empty"]["median"], 1),
                            "empty_p90_ms": round(answer["empty"]["p90"], 1),
                            "bytes": sum(len(body) for body in files),
                            "gzipped_bytes": sum(len(gzip.compress(body, 9)) for body in files),
                            "csp_needed": candidate.csp,
                        }
                    )
                await browser.close()
        finally:
            server.shutdown()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--frames", type=int, default=60)
    args = parser.parse_args()
    results = asyncio.run(measure(args.frames))
    print(
        f"{'decoder':18} {'ver':8} {'licence':11} {'read':5} {'QR p50/p90 ms':>14}"
        f" {'empty p50/p90':>14} {'KB':>6} {'gz KB':>6}  CSP"
    )
    for r in results:
        read = "yes" if r["read_the_code"] else "NO"
        kb, gz_kb = int(str(r["bytes"])) / 1024, int(str(r["gzipped_bytes"])) / 1024
        print(
            f"{r['name']!s:18} {r['version']!s:8} {r['licence']!s:11} {read:5}"
            f" {r['qr_median_ms']!s:>6}/{r['qr_p90_ms']!s:<7}"
            f" {r['empty_median_ms']!s:>6}/{r['empty_p90_ms']!s:<7}"
            f" {kb:6.0f} {gz_kb:6.0f}  {r['csp_needed']}"
        )
    RESULTS.mkdir(exist_ok=True)
    report = {"frames": args.frames, "results": results}
    (RESULTS / "qr_decoders.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
