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

import functools
import gzip
import hashlib
import html
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
STATIC_PREFIX = "/static"
# Written in the HTML where an asset URL starts: `{{static}}/app.css`.
PLACEHOLDER = b"{{static}}"
# Written in each page where the sandbox banner goes (first in <body>); empty in live mode.
# Filled in here, when the pages are read, so no script (inline or not) has to decide it.
BANNER_PLACEHOLDER = b"{{sandbox-banner}}"
SANDBOX_BANNER = (
    b'<header class="sandbox-banner"><p><strong data-i18n="sandbox.name">Sandbox</strong>'
    b'<span data-i18n="sandbox.text">: a test shop. M-PESA is simulated and no real money moves.</span>'
    b"</p></header>"
)
# The page's language (`<html lang>`, the catalogue it preloads) and the other one's code (the
# switch's own `lang`), written per language when the pages are read.
LANG_PLACEHOLDER = b"{{lang}}"
OTHER_LANG_PLACEHOLDER = b"{{other-lang}}"
# One catalogue of the pages' words per language: web/static/i18n/<code>.json.
CATALOGUE_DIR = "i18n"
# An element whose text is a catalogue entry: `<p data-i18n="checkout.lead">…</p>`; and one
# whose accessible name is: `aria-label="…" data-i18n-label="gate.camera"`. The page script
# (web/static/i18n.js) does the same in the browser when the device chose the other language.
_TEXT = re.compile(rb'(<([a-z][a-z0-9]*)\b[^<>]*?\sdata-i18n="([^"]+)"[^<>]*>)([^<]*)(</\2>)')
_LABEL = re.compile(rb'aria-label="[^"]*"(\s+data-i18n-label="([^"]+)")')

MEDIA_TYPES: Mapping[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
}


# Worth compressing: text. PNG and woff2 are compressed already.
COMPRESSIBLE = frozenset({".html", ".css", ".js", ".svg", ".json"})


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


# Kept for the process: an app built again in one process (the tests build ~600) finds the
# same bytes compressed already, where compressing every file at level 9 was most of a
# start's 35 ms of reading the web files.
@functools.lru_cache(maxsize=512)
def _gzipped(body: bytes) -> bytes:
    # mtime=0: the same bytes every start, so the gzip ETag is stable across processes.
    return gzip.compress(body, compresslevel=9, mtime=0)


def _web_file(body: bytes, suffix: str) -> WebFile:
    etag = _etag(body)
    if suffix in COMPRESSIBLE:
        packed = _gzipped(body)
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


def _catalogues(assets: Mapping[str, WebFile]) -> dict[str, dict[str, str]]:
    """The pages' words by language code, from the static `i18n/*.json` assets."""
    found: dict[str, dict[str, str]] = {}
    for name, file in assets.items():
        folder, _, leaf = name.rpartition("/")
        if folder == CATALOGUE_DIR and leaf.endswith(".json"):
            found[leaf.removesuffix(".json")] = json.loads(file.body)
    return found


def _translate(page: bytes, name: str, words: Mapping[str, str]) -> bytes:
    """`page` with every marked text and label in the words of one language.

    A key the catalogue lacks fails the start, naming it: never a page with a gap.
    """

    def word(key: bytes) -> bytes:
        text = words.get(key.decode())
        if text is None:
            raise RuntimeError(f"web page {name}: no words for {key.decode()!r} in its catalogue")
        return html.escape(text, quote=True).encode()

    page = _TEXT.sub(lambda m: m.group(1) + word(m.group(3)) + m.group(5), page)
    return _LABEL.sub(lambda m: b'aria-label="' + word(m.group(2)) + b'"' + m.group(1), page)


@dataclass(frozen=True)
class WebFiles:
    version: str
    pages: Mapping[str, WebFile]
    assets: Mapping[str, WebFile]
    # The same pages in each language that has a catalogue; `pages` is the default's.
    translated: Mapping[str, Mapping[str, WebFile]] = field(default_factory=dict)

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(self.translated)

    @property
    def static_base(self) -> str:
        return f"{STATIC_PREFIX}/{self.version}"

    def page(self, name: str, language: str = "") -> WebFile:
        return self.translated.get(language, self.pages)[name]

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
        raw = {
            path.name: path.read_bytes().replace(PLACEHOLDER, base).replace(BANNER_PLACEHOLDER, banner)
            for path in sorted(root.glob("*.html"))
        }
        catalogues = _catalogues(assets)
        translated: dict[str, dict[str, WebFile]] = {}
        for language, words in sorted(catalogues.items()):
            other = next((code for code in sorted(catalogues) if code != language), language).encode()
            translated[language] = {
                name: _web_file(
                    _translate(body, name, words)
                    .replace(LANG_PLACEHOLDER, language.encode())
                    .replace(OTHER_LANG_PLACEHOLDER, other),
                    ".html",
                )
                for name, body in raw.items()
            }
        # English first: the pages a request that names no language of ours gets.
        default = translated.get("en") or {name: _web_file(body, ".html") for name, body in raw.items()}
        return cls(version=version, pages=default, assets=assets, translated=translated)
