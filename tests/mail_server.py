"""A real SMTP server on loopback for the tests: aiosmtpd, on a port of the test's own.

aiosmtpd's Controller runs its server in a thread with an event loop of its own; every
accepted message is handed to the test's loop, where tests await a count of messages
instead of sleeping. It can be stopped and started again on the same port (an outage).

By default it offers 8BITMIME and SMTPUTF8, as most providers do; `eight_bit=False` makes
a strict 7-bit server (no 8BITMIME, and any byte past ASCII refused with `500`), and
`smtputf8=False` one that refuses non-ASCII addresses.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
from dataclasses import dataclass
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
        # The bytes as sent (`content` is text on a 7-bit server).
        raw = bytes(envelope.original_content)
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        peer = tuple(session.peer) if session.peer else ()
        arrival = Arrival(parsed, list(envelope.rcpt_tos), list(envelope.mail_options), raw, peer)
        self.catcher.loop.call_soon_threadsafe(self.catcher.arrived, arrival)
        return "250 Message accepted for delivery"


@dataclass(frozen=True)
class Arrival:
    """One accepted message: parsed, its envelope, and the bytes the client sent."""

    message: EmailMessage
    rcpt_tos: list[str]
    mail_options: list[str]
    raw: bytes
    # The client's address and port: one per connection it opened.
    peer: tuple[Any, ...] = ()


class MailCatcher:
    def __init__(self, port: int | None = None, *, eight_bit: bool = True, smtputf8: bool = True) -> None:
        self.port = port or free_port()
        self.eight_bit = eight_bit
        self.smtputf8 = smtputf8
        self.loop = asyncio.get_running_loop()
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []
        self.arrivals: list[Arrival] = []
        self._arrival = asyncio.Event()
        self._controller: Controller | None = None
        # Set by `hold_messages`: the server accepts nothing until it is set.
        self.hold: threading.Event | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def arrived(self, arrival: Arrival) -> None:
        self.arrivals.append(arrival)
        self.messages.append(arrival.message)
        self.recipients.append(arrival.rcpt_tos)
        self._arrival.set()

    async def start(self) -> None:
        controller = Controller(
            _Handler(self),
            hostname="127.0.0.1",
            port=self.port,
            # aiosmtpd offers 8BITMIME unless it decodes DATA as text (ASCII, strictly,
            # without SMTPUTF8).
            decode_data=not self.eight_bit,
            enable_SMTPUTF8=self.smtputf8,
        )
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
