"""Pages and assets go out gzipped to a browser that accepts it, compressed once at start."""

from __future__ import annotations

import gzip
import re
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from server.settings import Settings
from server.web_encoding import accepts_gzip
from tests.local_http import local_client
from tests.server_harness import run_server


@pytest.fixture
async def client(make_settings: Callable[..., Settings]) -> AsyncIterator[httpx.AsyncClient]:
    async with run_server(make_settings()) as live, local_client(live.base_url) as http:
        yield http


async def raw(client: httpx.AsyncClient, path: str, encoding: str) -> tuple[httpx.Headers, bytes]:
    """The answer's headers and bytes as sent: httpx would otherwise decode gzip and hide it."""
    async with client.stream("GET", path, headers={"Accept-Encoding": encoding}) as response:
        return response.headers, b"".join([chunk async for chunk in response.aiter_raw()])


async def test_text_files_are_gzipped_with_their_own_etag_and_vary(client: httpx.AsyncClient) -> None:
    page = await client.get("/", headers={"Accept-Encoding": "identity"})
    plain = page.text
    css = "/static/" + re.findall(r'href="/static/([^"]+app\.css)"', plain)[0]
    for path in ("/", css):
        identity, plain_bytes = await raw(client, path, "identity")
        packed, gzip_bytes = await raw(client, path, "gzip, deflate")
        assert "content-encoding" not in identity
        assert packed["content-encoding"] == "gzip"
        # A page also varies by language (Accept-Language picks English or Kiswahili).
        varies = "Accept-Encoding, Accept-Language" if path == "/" else "Accept-Encoding"
        assert identity["vary"] == packed["vary"] == varies
        assert gzip.decompress(gzip_bytes) == plain_bytes
        assert len(gzip_bytes) < len(plain_bytes) / 2
        # Two representations, two ETags; each revalidates as itself.
        assert packed["etag"] != identity["etag"]
        again = await client.get(
            path, headers={"Accept-Encoding": "gzip", "If-None-Match": f"W/{packed['etag']}"}
        )
        assert again.status_code == 304 and again.headers["vary"] == varies
        crossed = await client.get(
            path, headers={"Accept-Encoding": "identity", "If-None-Match": packed["etag"]}
        )
        assert crossed.status_code == 200, "the gzip ETag does not validate the plain bytes"


def test_what_counts_as_accepting_gzip() -> None:
    assert accepts_gzip("gzip, deflate, br") and accepts_gzip("*") and accepts_gzip("GZIP;q=0.5")
    assert not accepts_gzip("") and not accepts_gzip("identity") and not accepts_gzip("gzip;q=0")
    assert not accepts_gzip("br, gzip;q=0.0")
