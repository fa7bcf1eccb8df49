"""A TCP proxy whose network can be cut, as a phone's is in a tunnel or a matatu.

Bytes pass both ways untouched (keep-alive, streams, everything). `cut()` resets every open
connection and resets every new one as soon as it is accepted, so the browser sees what a
dead network gives it: errors on open streams and on every new request, not a polite
offline mode that leaves open streams alive (Playwright's `set_offline` alone does that).
`restore()` lets connections through again.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct


def _reset(writer: asyncio.StreamWriter) -> None:
    # SO_LINGER 0: close() sends RST, the way a dropped path ends for the browser.
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class CutProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.is_cut = False
        self.refused = 0  # connections reset while cut
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> str:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self._server = await asyncio.start_server(self._handle, sock=sock)
        return f"http://127.0.0.1:{sock.getsockname()[1]}"

    def cut(self) -> None:
        self.is_cut = True
        for writer in list(self._open):
            _reset(writer)
        self._open.clear()

    def restore(self) -> None:
        self.is_cut = False

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        self.cut()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if self.is_cut:
            self.refused += 1
            _reset(client_writer)
            return
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            _reset(client_writer)
            self._tasks.discard(task)
            return
        self._open |= {client_writer, up_writer}
        try:
            await asyncio.gather(_pump(client_reader, up_writer), _pump(up_reader, client_writer))
        finally:
            for writer in (client_writer, up_writer):
                self._open.discard(writer)
                writer.close()
            self._tasks.discard(task)


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
