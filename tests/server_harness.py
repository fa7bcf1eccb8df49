"""A real uvicorn server on a free port, in the test's own event loop.

Streaming has to be tested over real sockets: httpx's ASGI transport buffers whole bodies,
so an endless SSE stream would hang there.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import uvicorn

from server.app import create_app
from server.launcher import HTTPTOOLS
from server.services import Services
from server.settings import Settings


def bound_socket(send_buffer: int | None = None) -> tuple[socket.socket, int]:
    """A socket bound to a free loopback port, handed to uvicorn so the port is known first.

    Accepted connections inherit `send_buffer` (SO_SNDBUF, which also stops autotuning).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if send_buffer is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    return sock, port


@contextlib.asynccontextmanager
async def serve_app(app: Any) -> AsyncIterator[str]:
    """Any ASGI app (the fake PayHero, a proxy) on a real port; yields its base URL."""
    sock, port = bound_socket()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await until(lambda: server.started or task.done(), timeout=20)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)
        sock.close()


@dataclass
class RunningServer:
    base_url: str
    services: Services
    server: uvicorn.Server


@contextlib.asynccontextmanager
async def run_server(
    settings: Settings, *, send_buffer: int | None = None, http: str = HTTPTOOLS
) -> AsyncIterator[RunningServer]:
    sock, port = bound_socket(send_buffer)
    # The sandbox calls back to PUBLIC_BASE_URL: point it at this server's real port.
    settings = settings.with_overrides(port=port, public_base_url=f"http://127.0.0.1:{port}")
    app = create_app(settings)
    # As the Procfile: the service resolves forwarded headers itself (server/ops/forwarded.py),
    # and its HTTP protocol has a deadline on request headers (server/launcher.py).
    config = uvicorn.Config(
        app, log_level="warning", lifespan="on", timeout_graceful_shutdown=1, proxy_headers=False, http=http
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await until(lambda: server.started or task.done(), timeout=20)
        if task.done():
            task.result()
            raise RuntimeError("server stopped during start")
        yield RunningServer(f"http://127.0.0.1:{port}", app.state.services, server)
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)
        sock.close()


async def until(condition: Callable[[], bool], *, timeout: float = 10.0, interval: float = 0.005) -> None:
    """Wait for a condition the code under test makes true (a watch registered, a server up)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(interval)
