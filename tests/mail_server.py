"""A real SMTP server on loopback for the tests: aiosmtpd, on a port of the test's own.

aiosmtpd's Controller runs its server in a thread with an event loop of its own; every
accepted message is handed to the test's loop, where tests await a count of messages
instead of sleeping. It can be stopped and started again on the same port (an outage).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.backends import free_port


class _Handler:
    def __init__(self, catcher: MailCatcher) -> None:
        self.catcher = catcher

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.catcher.hold is not None:
            # A slow mail server: the test decides when this message is accepted.
            await asyncio.to_thread(self.catcher.hold.wait)
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.catcher.loop.call_soon_threadsafe(self.catcher.arrived, parsed, list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


class MailCatcher:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.loop = asyncio.get_running_loop()
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []
        self._arrival = asyncio.Event()
        self._controller: Controller | None = None
        # Set by `hold_messages`: the server accepts nothing until it is set.
        self.hold: threading.Event | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def arrived(self, message: EmailMessage, rcpt_tos: list[str]) -> None:
        self.messages.append(message)
        self.recipients.append(rcpt_tos)
        self._arrival.set()

    async def start(self) -> None:
        controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)
        # start() blocks until the server answers: keep the test's loop free meanwhile.
        await asyncio.to_thread(controller.start)
        self._controller = controller

    async def stop(self) -> None:
        if self._controller is not None:
            await asyncio.to_thread(self._controller.stop)
            self._controller = None

    async def wait_for(self, count: int, timeout: float = 15.0) -> list[EmailMessage]:
        """Wait until at least `count` messages arrived; return them all."""
        async with asyncio.timeout(timeout):
            while len(self.messages) < count:
                # No await between the check and the clear: an arrival cannot slip between.
                self._arrival.clear()
                await self._arrival.wait()
        return list(self.messages)

    def hold_messages(self) -> threading.Event:
        self.hold = threading.Event()
        return self.hold

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]
