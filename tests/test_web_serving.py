"""How the pages and their assets are served: headers, caching, and nothing outside web/static."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from server.routes import pages
from server.settings import Settings
from server.webfiles import WebFiles
from tests.local_http import local_client
from tests.server_harness import run_server

ORDER_PAGE = "/payment/" + "A" * 24


@pytest.fixture
async def client(make_settings: Callable[..., Settings]) -> AsyncIterator[httpx.AsyncClient]:
    async with run_server(make_settings()) as live, local_client(live.base_url) as http:
        yield http


def asset_urls(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="(/static/[^"]+)"', html)


@pytest.mark.parametrize("path", ["/", ORDER_PAGE, "/gate"])
async def test_pages_carry_a_strict_policy_and_are_revalidated(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert "img-src 'self' data:" in policy and "unsafe-inline" not in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-cache"
    # No inline script, no inline handlers, nothing from another origin.
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", response.text)
    assert not re.search(r"\son[a-z]+=", response.text)
    assert not re.search(r'(?:src|href)="(?:https?:)?//', response.text)
    again = await client.get(path, headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304


async def test_assets_live_under_a_content_hash_and_are_cached_for_a_year(client: httpx.AsyncClient) -> None:
    urls = asset_urls((await client.get("/")).text) + asset_urls((await client.get(ORDER_PAGE)).text)
    assert {url.rsplit("/", 1)[1] for url in urls} >= {"app.css", "checkout.js", "payment.js", "icon.svg"}
    versions = {url.split("/")[2] for url in urls}
    assert len(versions) == 1 and re.fullmatch(r"[0-9a-f]{12}", versions.pop())
    for url in urls:
        response = await client.get(url)
        assert response.status_code == 200, url
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert response.headers["x-content-type-options"] == "nosniff"
    script = await client.get(next(url for url in urls if url.endswith("payment.js")))
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    # Modules import their neighbours relatively: they resolve under the same version.
    assert (await client.get(urls[0].rsplit("/", 1)[0] + "/transport.js")).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/static/000000000000/app.css",  # an old version: never today's bytes under it
        "/static/{v}/../../server/settings/variables.py",
        "/static/{v}/%2e%2e/%2e%2e/pyproject.toml",
        "/static/{v}/..%2f..%2fpyproject.toml",
        "/static/{v}//etc/passwd",
        "/static/{v}/",
        "/static/{v}/nope.js",
    ],
)
async def test_anything_else_is_a_json_404(client: httpx.AsyncClient, path: str) -> None:
    version = asset_urls((await client.get("/")).text)[0].split("/")[2]
    response = await client.get(path.replace("{v}", version))
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert "error" in response.json()


@pytest.mark.parametrize("path", ["/payment/not!an!id", "/payment/short"])
async def test_a_link_that_is_no_order_gets_the_page_s_own_not_found(
    client: httpx.AsyncClient, path: str
) -> None:
    # A person followed it: the page says "we cannot find this payment", not raw JSON.
    response = await client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.text == (await client.get(ORDER_PAGE)).text


@pytest.mark.parametrize("tail", [".", ").", ",", "\u201d"])
async def test_a_link_with_a_sentence_s_punctuation_leads_to_the_order(
    client: httpx.AsyncClient, tail: str
) -> None:
    response = await client.get(ORDER_PAGE + tail)
    assert response.status_code == 308
    assert response.headers["location"] == ORDER_PAGE


def test_the_sandbox_banner_is_written_into_every_page_only_in_sandbox_mode() -> None:
    sandbox, live = WebFiles.load(sandbox=True), WebFiles.load(sandbox=False)
    assert set(sandbox.pages) == {"index.html", "payment.html", "gate.html", "desk.html", "ticket.html"}
    for name in sandbox.pages:
        assert b'<header class="sandbox-banner">' in sandbox.page(name).body, name
        assert b"sandbox" not in live.page(name).body.lower(), name
        assert b"{{" not in sandbox.page(name).body and b"{{" not in live.page(name).body, name


async def test_pages_answer_head_and_refuse_other_methods(client: httpx.AsyncClient) -> None:
    assert (await client.head("/")).status_code == 200
    refused = await client.post("/")
    assert refused.status_code == 405 and refused.json()["error"] == "method_not_allowed"


def test_only_regular_files_inside_static_are_published(tmp_path: Path) -> None:
    static = tmp_path / "static"
    (static / "sub").mkdir(parents=True)
    (static / "app.js").write_text("1")
    (static / "sub" / "deep.css").write_text("a{}")
    (static / ".secret.js").write_text("no")
    (static / "notes.txt").write_text("no: not a web type")
    (tmp_path / "outside.js").write_text("no")
    (static / "link.js").symlink_to(tmp_path / "outside.js")
    (tmp_path / "index.html").write_text('<script src="{{static}}/app.js"></script>')
    files = WebFiles.load(tmp_path)
    assert set(files.assets) == {"app.js", "sub/deep.css"}
    assert files.page("index.html").body == f'<script src="/static/{files.version}/app.js"></script>'.encode()

    (static / "app.js").write_text("2")
    assert WebFiles.load(tmp_path).version != files.version, "a changed asset gets a new URL"


def test_an_app_without_its_pages_fails_at_start(tmp_path: Path) -> None:
    with pytest.raises(
        RuntimeError, match=re.escape("web pages missing: index.html, payment.html, gate.html")
    ):
        pages.routes(WebFiles.load(tmp_path))
