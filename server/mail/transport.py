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

    async def send(self, mail: OutgoingMail, key: str) -> str:
        try:
            # Raw bytes: aiosmtplib sends them as they are, with the envelope given here.
            await aiosmtplib.send(
                mail.data,
                sender=mail.sender,
                recipients=mail.recipients,
                # A server without SMTPUTF8 refuses it: SMTPNotSupported, retried later.
                mail_options=["SMTPUTF8"] if mail.smtputf8 else None,
                hostname=self.hostname,
                port=self.port,
                username=self.username,
                password=self.password,
                use_tls=self.implicit_tls,
                # None: STARTTLS if the server offers it; never on top of implicit TLS.
                start_tls=False if self.implicit_tls else None,
                timeout=self.timeout,
            )
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
            # The exception text names the server's answer, never our credentials.
            raise SendFailed(f"{type(exc).__name__}: {exc}"[:255]) from exc
        return f"{self.hostname}:{self.port}"


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


def build_sender(smtp_url: str | None, timeout: float, data_dir: Path) -> MailSender:
    """SMTP when `SMTP_URL` is set, else `.eml` files in the data directory's outbox."""
    if smtp_url:
        return SmtpSender(smtp_url, timeout)
    return EmlFileSender(data_dir / "outbox")
