"""Which bytes of a web file a request gets: gzipped when the browser accepts gzip.

The two representations have different ETags, every answer of a compressible file says
`Vary: Accept-Encoding` (a shared cache must not hand gzip to a client that did not ask),
and `If-None-Match` is matched against the representation being sent, in any of the forms
a client may send it (a list, weak `W/` tags, `*`).
"""

from __future__ import annotations

from dataclasses import dataclass

from server.webfiles import WebFile


@dataclass(frozen=True, slots=True)
class Chosen:
    body: bytes
    etag: str
    headers: dict[str, str]


def accepts_gzip(accept_encoding: str) -> bool:
    for item in accept_encoding.split(","):
        name, _, params = item.strip().partition(";")
        if name.strip().lower() not in ("gzip", "*"):
            continue
        quality = params.strip().lower().removeprefix("q=")
        try:
            return not params.strip() or float(quality) > 0
        except ValueError:
            return False
    return False


def choose(file: WebFile, accept_encoding: str) -> Chosen:
    headers: dict[str, str] = {}
    if file.varies:
        headers["Vary"] = "Accept-Encoding"
    if file.gzipped is not None and accepts_gzip(accept_encoding):
        headers["Content-Encoding"] = "gzip"
        return Chosen(file.gzipped, file.gzip_etag, headers)
    return Chosen(file.body, file.etag, headers)


def not_modified(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in tags or etag in tags
