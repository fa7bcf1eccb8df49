"""Hostile input over real HTTP: every answer is a JSON 4xx, never a 500, and changes nothing.

Run on both stacks: PostgreSQL refuses things SQLite takes (a NUL byte, a number wider than
the column), so a request that is harmless on one can be a 500 on the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from starlette.routing import Mount

from server.settings import Settings
from tests.local_http import local_client
from tests.ops_helpers import callback_body, checkout_body, snapshot
from tests.server_harness import RunningServer, run_server

WAIT_CAP = 0.5
JSON = {"content-type": "application/json"}


@pytest.fixture
async def live(stack_settings: Settings) -> AsyncIterator[RunningServer]:
    settings = stack_settings.with_overrides(wait_timeout_max=WAIT_CAP, wait_timeout=WAIT_CAP)
    async with run_server(settings) as running:
        yield running


@pytest.fixture
async def client(live: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with local_client(live.base_url, timeout=10) as http:
        yield http


@contextlib.asynccontextmanager
async def nothing_changes(live: RunningServer) -> AsyncIterator[None]:
    before = await snapshot(live.services.database)
    yield
    assert await snapshot(live.services.database) == before


def assert_json_error(response: httpx.Response, status: int, error: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert isinstance(body.get("message"), str)
    if error is not None:
        assert body["error"] == error
    return body


async def open_order(client: httpx.AsyncClient) -> dict[str, Any]:
    """A `processing` order whose sandbox customer never answers (phone ending 9999)."""
    response = await client.post("/api/orders", json=checkout_body(phone="0712349999"))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def callback_path(live: RunningServer) -> str:
    return f"/api/payhero/callback/{live.services.settings.callback_token}"


async def raw_request(base_url: str, head: str, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    """Send bytes as written: httpx would normalise `..` segments away before they left."""
    url = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        writer.write(head.encode("latin-1") + b"\r\n\r\n" + body)
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    head_bytes, _, payload = data.partition(b"\r\n\r\n")
    lines = head_bytes.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, payload


# One server per stack for all of them: each case is cheap, a server start is not.
GARBAGE_PARAMETERS: list[tuple[str, dict[str, str], dict[str, str | bytes]]] = [
    ("/wait", {"since": "\u00b2"}, {}),
    ("/wait", {"since": "-1"}, {}),
    ("/wait", {"since": "1.5"}, {}),
    ("/wait", {"since": "9" * 40}, {}),
    ("/wait", {"since": str(2**31)}, {}),
    ("/wait", {"timeout": "nan"}, {}),
    ("/wait", {"timeout": "inf"}, {}),
    ("/wait", {"timeout": "1e999"}, {}),
    ("/wait", {"timeout": "-1"}, {}),
    ("/wait", {"timeout": "soon"}, {}),
    ("/events", {}, {"Last-Event-ID": "\u00b2".encode("latin-1")}),
    ("/events", {}, {"Last-Event-ID": "garbage"}),
    ("/events", {}, {"Last-Event-ID": "9" * 40}),
    ("/events", {}, {"Last-Event-ID": "-3"}),
    ("/events", {"last_event_id": "\uff11\uff12"}, {}),  # fullwidth 12
    # Only an empty value means absent: whitespace is not a version (found by the fuzzer).
    ("/events", {"last_event_id": "\r"}, {}),
    ("/events", {"last_event_id": " 3"}, {}),
    ("/wait", {"since": " "}, {}),
    ("/wait", {"timeout": "\t"}, {}),
]


async def test_garbage_versions_and_timeouts_are_json_400s(
    live: RunningServer, client: httpx.AsyncClient
) -> None:
    order = await open_order(client)
    async with nothing_changes(live):
        for suffix, params, headers in GARBAGE_PARAMETERS:
            url = f"/api/orders/{order['order_id']}{suffix}"
            response = await client.get(url, params=params, headers=headers)
            assert response.status_code == 400, (suffix, params, headers, response.text)
            assert_json_error(response, 400, "invalid_parameter")


@pytest.mark.parametrize("timeout", ["1e308", "99999999999", "86400"])
async def test_huge_timeouts_are_capped_by_the_server(client: httpx.AsyncClient, timeout: str) -> None:
    order = await open_order(client)
    started = time.monotonic()
    response = await client.get(
        f"/api/orders/{order['order_id']}/wait", params={"since": order["version"], "timeout": timeout}
    )
    assert response.status_code == 200 and response.json()["timed_out"] is True
    assert time.monotonic() - started < WAIT_CAP + 2


MALFORMED_IDS = [
    "%00",
    "a" * 5000,
    "%F0%9F%92%A9",
    "..%2F..%2Fetc%2Fpasswd",
    "x%0D%0ASet-Cookie:%20a=b",
    "%ED%A0%80",
]


async def test_malformed_order_ids_are_json_404s(live: RunningServer, client: httpx.AsyncClient) -> None:
    async with nothing_changes(live):
        for order_id in MALFORMED_IDS:
            for suffix in ["", "/wait", "/events"]:
                response = await client.get(f"/api/orders/{order_id}{suffix}")
                assert response.status_code == 404, (order_id, suffix, response.text)
                # An id with an encoded slash is no longer one path segment: a plain not_found.
                body = assert_json_error(response, 404)
                assert body["error"] in {"order_not_found", "not_found"}
                assert len(body.get("order_id", "")) <= 64
                assert "set-cookie" not in response.headers


async def test_path_traversal_never_reaches_a_file(live: RunningServer) -> None:
    app = live.server.config.app
    # Whatever static mounts the app has (the web pages), plus the root.
    prefixes = [""] + [route.path for route in app.routes if isinstance(route, Mount)]
    attempts = [
        "/..%2f..%2f..%2fetc%2fpasswd",
        "/..%2F..%2F..%2Fetc/passwd",
        "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/../../../etc/passwd",
        "/..\\..\\..\\etc\\passwd",
        "/%252e%252e/%252e%252e/etc/passwd",
        "/....//....//etc/passwd",
        "/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",
        "/server/settings/variables.py",
        "/.env",
    ]
    for prefix in prefixes:
        for attempt in attempts:
            status, headers, body = await raw_request(
                live.base_url, f"GET {prefix}{attempt} HTTP/1.1\r\nHost: x\r\nConnection: close"
            )
            assert status in {400, 404}, (prefix, attempt, status)
            assert b"root:" not in body and b"CALLBACK_TOKEN" not in body
            if status == 404:
                assert headers["content-type"].startswith("application/json"), (prefix, attempt)
                assert json.loads(body)["error"] == "not_found"


async def test_deeply_nested_json_is_a_400(live: RunningServer, client: httpx.AsyncClient) -> None:
    async with nothing_changes(live):
        checkout = await client.post(
            "/api/orders", content=b"[" * 8000, headers={"content-type": "application/json"}
        )
        callback = await client.post(callback_path(live), content=b'{"response": ' + b"[" * 60000)
    assert_json_error(checkout, 400, "invalid_json")
    assert_json_error(callback, 400, "invalid_callback")


async def test_invalid_utf8_is_a_json_400(live: RunningServer, client: httpx.AsyncClient) -> None:
    bad = b'{"event": "demo-fest", "first_name": "\xff\xfe\xc3"}'
    utf16 = json.dumps(checkout_body()).encode("utf-16")
    async with nothing_changes(live):
        responses = [
            await client.post("/api/orders", content=bad, headers=JSON),
            await client.post("/api/orders", content=utf16, headers=JSON),
            await client.post(callback_path(live), content=bad),
        ]
    assert_json_error(responses[0], 400, "invalid_json")
    assert_json_error(responses[1], 400, "invalid_json")
    assert_json_error(responses[2], 400, "invalid_callback")


# What a page on another site can send without a CORS preflight (a "simple" request), and
# an empty-typed body (fetch with a Blob of no type): each is refused before anything happens.
CROSS_SITE = [
    {"content-type": "text/plain"},
    {"content-type": "text/plain;charset=UTF-8"},
    {"content-type": "application/x-www-form-urlencoded"},
    {"content-type": "multipart/form-data; boundary=x"},
    {"content-type": "application/jsonp"},
    {},
]


@pytest.mark.parametrize("headers", CROSS_SITE, ids=lambda h: h.get("content-type", "none"))
async def test_a_body_that_is_not_declared_json_is_a_415_and_changes_nothing(
    live: RunningServer, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    order = json.dumps(checkout_body()).encode()
    cross_site = {"origin": "https://evil.example", "sec-fetch-site": "cross-site", **headers}
    async with nothing_changes(live):
        responses = [
            # From another site's page: refused before the body is read (issue 24).
            await client.post("/api/orders", content=order, headers=cross_site),
            await client.post("/api/tickets/check-in", content=b'{"code": "x"}', headers=cross_site),
            # Not from a browser: the body's type is what is refused.
            await client.post("/api/orders", content=order, headers=headers),
        ]
    sandbox = live.services.sandbox
    assert sandbox is not None and sandbox.pushes == {}  # no phone was prompted
    assert_json_error(responses[0], 403, "cross_site_refused")
    assert_json_error(responses[1], 403, "cross_site_refused")
    assert_json_error(responses[2], 415, "unsupported_media_type")


async def test_json_with_parameters_or_in_capitals_is_still_json(
    live: RunningServer, client: httpx.AsyncClient
) -> None:
    order = json.dumps(checkout_body()).encode()
    for content_type in ("application/json; charset=utf-8", "Application/JSON"):
        response = await client.post("/api/orders", content=order, headers={"content-type": content_type})
        assert response.status_code == 201, response.text


async def _chunks(total: int) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        yield b" " * 4096
        sent += 4096


async def test_oversized_bodies_are_json_413s(live: RunningServer, client: httpx.AsyncClient) -> None:
    limit = live.services.settings.callback_max_bytes
    big_order = json.dumps(checkout_body(first_name="A" * 9000)).encode()
    async with nothing_changes(live):
        responses = [
            # With Content-Length, refused before reading; streamed without it, cut off mid-way.
            await client.post("/api/orders", content=big_order, headers=JSON),
            await client.post("/api/orders", content=_chunks(64 * 1024), headers=JSON),
            await client.post(callback_path(live), content=b" " * (limit + 1)),
            await client.post(callback_path(live), content=_chunks(limit + 8192)),
        ]
    for response in responses:
        assert_json_error(response, 413, "payload_too_large")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("phone", "07\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668"),  # Arabic-Indic digits
        ("phone", "\uff10\uff17\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18"),  # fullwidth
        ("quantity", "\u00b2"),  # superscript two: isdigit() says yes, int() says no
        ("quantity", "\u0661"),
    ],
)
async def test_non_ascii_digits_are_validation_errors(
    live: RunningServer, client: httpx.AsyncClient, field: str, value: str
) -> None:
    async with nothing_changes(live):
        response = await client.post("/api/orders", json=checkout_body(**{field: value}))
    assert field in assert_json_error(response, 422, "validation_error")["fields"]


async def test_callback_values_the_store_cannot_hold_are_refused(
    live: RunningServer, client: httpx.AsyncClient
) -> None:
    order = await open_order(client)
    number = order["order_number"]
    surrogate = callback_body(number).replace(b"processed successfully.", b"processed \\ud800")
    async with nothing_changes(live):
        responses = [
            await client.post(callback_path(live), content=callback_body(number, result_code=10**30)),
            await client.post(callback_path(live), content=callback_body(number, result_code="1e5")),
            await client.post(callback_path(live), content=callback_body(number, Amount=-(2**40))),
            await client.post(callback_path(live), content=surrogate),
        ]
    for response in responses:
        assert_json_error(response, 400, "invalid_callback")
    # A NUL in the description is no reason to lose a real result: it is blanked and applied.
    nul = callback_body(number, result_code=1032, ResultDesc="Request\u0000 cancelled by user")
    applied = await client.post(callback_path(live), content=nul)
    assert applied.status_code == 200 and applied.json()["payment_status"] == "cancelled"
    document = (await client.get(f"/api/orders/{order['order_id']}")).json()
    assert document["result_desc"] == "Request  cancelled by user"


async def test_oversized_headers_get_a_json_431(live: RunningServer, client: httpx.AsyncClient) -> None:
    filler = {f"X-Filler-{i}": "a" * 4000 for i in range(5)}
    async with nothing_changes(live):
        responses = [
            await client.get("/api/events", headers=filler),
            await client.post("/api/orders", json=checkout_body(), headers=filler),
            await client.post(callback_path(live), content=b"{}", headers=filler),
        ]
    for response in responses:
        assert_json_error(response, 431, "headers_too_large")


@pytest.mark.parametrize("size", [100_000, 1_000_000])
async def test_huge_headers_are_refused_and_the_server_carries_on(live: RunningServer, size: int) -> None:
    # httptools (uvicorn[standard]) takes even a megabyte of headers and our 431 answers;
    # h11 has its own limit and answers a plain-text 400 itself. Either way: a 4xx or a
    # closed connection, and the server goes on serving.
    head = f"GET /api/events HTTP/1.1\r\nHost: x\r\nX-Filler: {'a' * size}\r\nConnection: close"
    try:
        status, _, _ = await raw_request(live.base_url, head)
        assert 400 <= status < 500
    except (ConnectionError, IndexError):
        pass  # the parser hung up before answering
    async with local_client(live.base_url) as http:
        assert (await http.get("/healthz")).status_code == 200
