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


class PromptServer(uvicorn.Server):
    """uvicorn's server, stopped at once when told: a test's server stops in milliseconds.

    uvicorn looks at `should_exit` every 100 ms, then sleeps another 100 ms after asking
    open connections to close, and polls them every 100 ms: 0.15-0.3 s of each test's
    teardown, summed over ~550 tests that run a server. Here the main loop waits on an
    event, and the shutdown, the same steps as uvicorn's, waits on the connections
    themselves. The service's own server (server/launcher.py) keeps uvicorn's.
    """

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self.should_exit = True
        self._stop.set()

    async def main_loop(self) -> None:
        await self.on_tick(0)  # the Date header, as uvicorn's first tick sets it
        counter = 0
        while not self.should_exit:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), 1.0)
            counter += 10  # a tick a second: on_tick refreshes the Date header every 10th
            await self.on_tick(counter)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        state = self.server_state
        # Connections finishing their responses, then the requests' tasks, as uvicorn waits;
        # uvicorn waits without limit when no timeout is set, the caller's own wait bounds it.
        with contextlib.suppress(TimeoutError):
            await until(
                lambda: not (state.connections or state.tasks),
                timeout=self.config.timeout_graceful_shutdown or 10,
                interval=0.002,
            )
        for task in self.server_state.tasks:
            task.cancel(msg="Task cancelled, timeout graceful shutdown exceeded")
        for server in self.servers:
            await server.wait_closed()
        await self.lifespan.shutdown()


@contextlib.asynccontextmanager
async def serve_app(app: Any) -> AsyncIterator[str]:
    """Any ASGI app (the fake PayHero, a proxy) on a real port; yields its base URL."""
    sock, port = bound_socket()
    server = PromptServer(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await until(lambda: server.started or task.done(), timeout=20)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
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
    server = PromptServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await until(lambda: server.started or task.done(), timeout=20)
        if task.done():
            task.result()
            raise RuntimeError("server stopped during start")
        yield RunningServer(f"http://127.0.0.1:{port}", app.state.services, server)
    finally:
        server.stop()
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
