"""The files of `web/`, read once when the app is built and answered from memory.

Static assets live under `/static/{version}/…`, where `version` is a hash of every asset's
name and bytes: a changed file gets a new URL, so browsers may cache assets for a year
(`immutable`) and still never run a stale script against a new page. One version for the
whole folder (rather than one hash per file) keeps relative URLs working: a module imports
`./transport.js` and lands on the same version.

Requests are looked up in a dict built at start, so a request path never reaches the file
system: `..`, encoded slashes and files added after start all simply miss.

Text files are also gzipped once, at start (level 9: the cost is paid once, not per
request), and kept beside their bytes; server/web_encoding.py picks which to send. No
brotli: it would be a new dependency for a few hundred bytes more.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
STATIC_PREFIX = "/static"
# Written in the HTML where an asset URL starts: `{{static}}/app.css`.
PLACEHOLDER = b"{{static}}"
# Written in each page where the sandbox banner goes (first in <body>); empty in live mode.
# Filled in here, when the pages are read, so no script (inline or not) has to decide it.
BANNER_PLACEHOLDER = b"{{sandbox-banner}}"
SANDBOX_BANNER = (
    b'<header class="sandbox-banner"><p><strong>Sandbox</strong>: a test shop. '
    b"M-PESA is simulated and no real money moves.</p></header>"
)

MEDIA_TYPES: Mapping[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
}


# Worth compressing: text. PNG and woff2 are compressed already.
COMPRESSIBLE = frozenset({".html", ".css", ".js", ".svg"})


@dataclass(frozen=True, slots=True)
class WebFile:
    body: bytes
    media_type: str
    etag: str
    # The same file gzipped, with an ETag of its own (another representation, other bytes);
    # None when gzip would not make it smaller.
    gzipped: bytes | None = None
    gzip_etag: str = ""

    @property
    def varies(self) -> bool:
        """Whether the answer depends on Accept-Encoding (then caches must be told)."""
        return self.gzipped is not None


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:20] + '"'


def _web_file(body: bytes, suffix: str) -> WebFile:
    etag = _etag(body)
    if suffix in COMPRESSIBLE:
        # mtime=0: the same bytes every start, so the gzip ETag is stable across processes.
        packed = gzip.compress(body, compresslevel=9, mtime=0)
        if len(packed) < len(body):
            return WebFile(body, MEDIA_TYPES[suffix], etag, packed, etag[:-1] + '-gzip"')
    return WebFile(body, MEDIA_TYPES[suffix], etag)


def _read_assets(static_dir: Path) -> dict[str, WebFile]:
    assets: dict[str, WebFile] = {}
    if not static_dir.is_dir():
        return assets
    root = static_dir.resolve()
    for path in sorted(static_dir.rglob("*")):
        relative = path.relative_to(static_dir)
        if any(part.startswith(".") for part in relative.parts) or path.suffix not in MEDIA_TYPES:
            continue
        # A symlink pointing out of web/static must not publish what it points at.
        if not path.is_file() or not path.resolve().is_relative_to(root):
            continue
        assets[relative.as_posix()] = _web_file(path.read_bytes(), path.suffix)
    return assets


def _version(assets: Mapping[str, WebFile]) -> str:
    digest = hashlib.sha256()
    for name in sorted(assets):
        digest.update(name.encode() + b"\0" + assets[name].body + b"\0")
    return digest.hexdigest()[:12]


@dataclass(frozen=True)
class WebFiles:
    version: str
    pages: Mapping[str, WebFile]
    assets: Mapping[str, WebFile]

    @property
    def static_base(self) -> str:
        return f"{STATIC_PREFIX}/{self.version}"

    def page(self, name: str) -> WebFile:
        return self.pages[name]

    def asset(self, version: str, path: str) -> WebFile | None:
        """The asset at `path`, only under the current version.

        An old version gets nothing rather than today's bytes: a year-long `immutable`
        cache entry under yesterday's URL would otherwise hold a file that never had it.
        """
        if version != self.version:
            return None
        return self.assets.get(path)

    @classmethod
    def load(cls, root: Path = WEB_DIR, *, sandbox: bool = False) -> WebFiles:
        assets = _read_assets(root / "static")
        version = _version(assets)
        base = f"{STATIC_PREFIX}/{version}".encode()
        banner = SANDBOX_BANNER if sandbox else b""
        pages = {
            path.name: _web_file(
                path.read_bytes().replace(PLACEHOLDER, base).replace(BANNER_PLACEHOLDER, banner), ".html"
            )
            for path in sorted(root.glob("*.html"))
        }
        return cls(version=version, pages=pages, assets=assets)
