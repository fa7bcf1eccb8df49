"""Where e-mails go: a real SMTP server (`SMTP_URL`), or `.eml` files for development.

Both take the e-mail already flattened (`OutgoingMail`): they move bytes and do no CPU
work of their own on the event loop. Both raise `SendFailed` for anything that should be
tried again later; the worker owns retries, so a sender never loops or sleeps by itself.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

import aiosmtplib

from server.logs import mask_url
from server.mail.outgoing import OutgoingMail
from server.private_files import private_dir, write_private


class SendFailed(Exception):
    """This attempt did not hand the e-mail over; the message says why (no secrets)."""


class MailSender(Protocol):
    kind: str

    async def send(self, mail: OutgoingMail, key: str) -> str:
        """Hand `mail` over; return where it went, for the log."""
        ...

    def close(self) -> None:
        """Let go of what the sender keeps between e-mails (a connection); its owner calls this."""
        ...


class SmtpSender:
    """Through aiosmtplib: asyncio-native, so a slow mail server holds no thread, and kept
    up to date. `smtp://` upgrades with STARTTLS whenever the server offers it;
    `smtps://` speaks TLS from the first byte (port 465)."""

    kind = "smtp"

    def __init__(self, url: str, timeout: float) -> None:
        parts = urlsplit(url)
        self.implicit_tls = parts.scheme.lower() == "smtps"
        self.hostname = parts.hostname or "localhost"
        self.port = parts.port or (465 if self.implicit_tls else 25)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.timeout = timeout
        self.where = mask_url(url)
        # Kept between e-mails (the outbox sends one at a time); dropped after any failure.
        self._client: aiosmtplib.SMTP | None = None

    async def send(self, mail: OutgoingMail, key: str) -> str:
        try:
            reused = self._client is not None and self._client.is_connected
            try:
                await self._sendmail(mail)
            except (aiosmtplib.SMTPServerDisconnected, ConnectionError):
                if not reused:
                    raise
                # The server closed the connection kept since the last e-mail (idle too long,
                # its limit of messages per connection, a restart): once more, on a new one.
                self.close()
                await self._sendmail(mail)
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
            # A connection that failed mid-conversation is not used again.
            self.close()
            # The exception text names the server's answer, never our credentials.
            raise SendFailed(f"{type(exc).__name__}: {exc}"[:255]) from exc
        return f"{self.hostname}:{self.port}"

    async def _sendmail(self, mail: OutgoingMail) -> None:
        client = await self._connected()
        # Raw bytes: aiosmtplib sends them as they are, with the envelope given here.
        await client.sendmail(
            mail.sender,
            mail.recipients,
            mail.data,
            # A server without SMTPUTF8 refuses it: SMTPNotSupported, retried later.
            mail_options=["SMTPUTF8"] if mail.smtputf8 else None,
            timeout=self.timeout,
        )

    async def _connected(self) -> aiosmtplib.SMTP:
        """The connection kept from the last e-mail, or a new one (connect, EHLO, STARTTLS,
        login): one per e-mail cost the event loop ~0.55 ms of CPU each over loopback, and a
        TLS handshake each where the server offers STARTTLS (docs/BENCHMARKS.md)."""
        if self._client is not None and self._client.is_connected:
            return self._client
        self.close()
        client = aiosmtplib.SMTP(
            hostname=self.hostname,
            port=self.port,
            username=self.username,
            password=self.password,
            use_tls=self.implicit_tls,
            # None: STARTTLS if the server offers it; never on top of implicit TLS.
            start_tls=False if self.implicit_tls else None,
            timeout=self.timeout,
        )
        await client.connect()
        self._client = client
        return client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def eml_name(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", key).strip("_") + ".eml"


class EmlFileSender:
    """Without SMTP_URL: each e-mail becomes DATA_DIR/outbox/<key>.eml, which any mail app
    opens. Named by outbox key, so a resend replaces the file instead of adding one."""

    kind = "eml"

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _write(self, data: bytes, key: str) -> Path:
        # A customer's tickets: private to the service's user (server/private_files.py).
        path = private_dir(self.directory) / eml_name(key)
        write_private(path, data)
        return path

    async def send(self, mail: OutgoingMail, key: str) -> str:
        try:
            # CRLF line endings, as mail apps write .eml files themselves.
            path = await asyncio.to_thread(self._write, mail.data, key)
        except OSError as exc:
            raise SendFailed(f"cannot write the .eml file: {exc}"[:255]) from exc
        return str(path)

    def close(self) -> None:
        """Nothing is kept between e-mails."""


def build_sender(smtp_url: str | None, timeout: float, data_dir: Path) -> MailSender:
    """SMTP when `SMTP_URL` is set, else `.eml` files in the data directory's outbox."""
    if smtp_url:
        return SmtpSender(smtp_url, timeout)
    return EmlFileSender(data_dir / "outbox")
