"""A local HTTP proxy that buffers event streams, as some corporate and mobile proxies do.

Every request is forwarded to the real server as it is (with `Connection: close`, so one
connection carries one exchange). Responses to paths matching `hold` are kept back whole
until the server ends them: the browser sees nothing of an SSE stream, not even its
headers, while the server believes it has sent its events.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket


class BufferingProxy:
    def __init__(self, upstream_port: int, hold: str = r"/events(?:\?|$)") -> None:
        self.upstream_port = upstream_port
        self.hold = re.compile(hold)
        self.held_bytes = 0  # sent by the server on held responses, kept from the browser
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> str:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self._server = await asyncio.start_server(self._handle, sock=sock)
        return f"http://127.0.0.1:{sock.getsockname()[1]}"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            head = await client_reader.readuntil(b"\r\n\r\n")
            target = head.split(b"\r\n", 1)[0].split(b" ")[1].decode("latin-1")
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
            up_writer.write(_one_exchange(head))
            # The request body, and the browser's hang-up (EOF) passed on to the server.
            upload = asyncio.create_task(_pump(client_reader, up_writer))
            try:
                if self.hold.search(target):
                    await self._buffer(up_reader, client_writer)
                else:
                    await _pump(up_reader, client_writer)
            finally:
                upload.cancel()
                up_writer.close()
        except (OSError, asyncio.IncompleteReadError, IndexError):
            pass
        finally:
            client_writer.close()
            self._tasks.discard(task)

    async def _buffer(self, up_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        held = bytearray()
        while chunk := await up_reader.read(65536):
            held += chunk
            self.held_bytes += len(chunk)
        client_writer.write(bytes(held))
        with contextlib.suppress(OSError):
            await client_writer.drain()


def _one_exchange(head: bytes) -> bytes:
    lines = [line for line in head.split(b"\r\n") if line and not line.lower().startswith(b"connection:")]
    return b"\r\n".join([*lines, b"Connection: close", b"", b""])


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
