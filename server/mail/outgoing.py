"""An e-mail as the composing process hands it over: its envelope and its bytes, final.

Flattening a composed message (the MIME tree walked, headers folded, the QR PNGs in
base64) is CPU work, and so is unpickling a whole `EmailMessage` in the service: the
flash sale's profile put a fifth of the event loop's CPU in e-mail delivery, most of it
aiosmtplib's `flatten_message` or `as_bytes()` for `.eml` files (docs/BENCHMARKS.md,
"Issue 22: e-mails flattened off the loop"). So the composing process flattens, and the
service only moves bytes.

The bytes are what aiosmtplib's `SMTP.send_message` would have sent, chosen as it chooses
(aiosmtplib/smtp.py, aiosmtplib/email.py) but without asking the server first: the
composing process cannot ask. `cte_type="7bit"` always, so they are valid whether the
server offers 8BITMIME or not (a text part that would have gone as 8bit goes as base64
or quoted-printable); Bcc removed; CRLF line endings (`email.policy.SMTP`). Only an
envelope address that is not ASCII needs SMTPUTF8: then the headers are UTF-8 as well
(`email.policy.SMTPUTF8`), and the SMTP sender asks for SMTPUTF8, which a server without
it refuses (a `SendFailed`, retried, as when aiosmtplib flattened).
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage

from aiosmtplib.email import extract_recipients, extract_sender, flatten_message


@dataclass(frozen=True, slots=True)
class OutgoingMail:
    """One e-mail ready to send: envelope, flattened message, and its Message-ID for the log."""

    sender: str
    recipients: tuple[str, ...]
    data: bytes
    # The envelope has a non-ASCII address: MAIL FROM must carry SMTPUTF8.
    smtputf8: bool
    message_id: str


def flattened(message: EmailMessage) -> OutgoingMail:
    """`message` as bytes any SMTP server takes, with the envelope read from its headers."""
    # aiosmtplib's own helpers: the same addresses its `send_message` would have used. An
    # empty sender or no recipients are left for `aiosmtplib.send` to refuse, as before.
    sender = extract_sender(message) or ""
    recipients = tuple(extract_recipients(message))
    smtputf8 = not (sender + "".join(recipients)).isascii()
    data = flatten_message(message, utf8=smtputf8, cte_type="7bit")
    return OutgoingMail(sender, recipients, data, smtputf8, str(message["Message-ID"]))
