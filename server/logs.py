"""Logging set-up, and the masking every log line with customer data goes through."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TextIO

# Attributes every LogRecord has; anything else on a record came in through `extra=`.
# `taskName` is one from Python 3.12 on.
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
}
# Made once: `json.dumps(..., default=str)` builds a new encoder for every line.
_JSON_ENCODER = json.JSONEncoder(default=str)
# Loggers that always write through our handler. httpx logs every request URL at INFO, the
# sandbox's callback URL (with its secret) among them.
_OWN_LOGGERS = ("server", "httpx")
# uvicorn's, once uvicorn has configured them. uvicorn.error propagates to uvicorn.
_UVICORN_LOGGERS = ("uvicorn", "uvicorn.access")


def mask_phone(phone: str | None) -> str:
    """`254712345678` -> `2547*****678`: enough to tell numbers apart, not to dial one."""
    if not phone:
        return "-"
    digits = phone.strip()
    if len(digits) <= 6:
        return "*" * len(digits)
    return digits[:4] + "*" * (len(digits) - 7) + digits[-3:]


def mask_email(email: str | None) -> str:
    """`amina@example.com` -> `a****@example.com`: which mailbox provider, not whose mailbox."""
    if not email or "@" not in email:
        return "-"
    local, _, domain = email.rpartition("@")
    return local[:1] + "*" * max(len(local) - 1, 3) + "@" + domain


# Where secrets sit in a line, whatever their value: each pattern keeps what precedes the
# secret (group 1) and blanks the secret itself. Redacting by place, not by value, leaves
# a line readable when a secret is short or common: a database password `postgres` once
# turned `postgresql+asyncpg://` into `***ql+asyncpg://` (which gave it away), and a
# one-letter PayHero password blanked that letter in every line.
_URL_USERINFO = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s'\"]*:)[^@\s'\"/]+@")
#
# Each pattern comes with what it cannot match without, as plain lowercase substrings: a
# line lacking all of them is left alone without running the pattern. Exact for ASCII lines
# (`str.lower` and the patterns' case-insensitivity agree there); a line with any other
# character runs every pattern, since `(?i)` also matches the long s (U+017F) to `s` and the Kelvin sign to
# `k`. Redacting only blanks and inserts `***`, so it never makes a needle appear that was
# not in the line: one look at the line as it came is enough.
_WHERE_SECRETS_SIT: tuple[tuple[re.Pattern[str], str, tuple[str, ...]], ...] = (
    # scheme://user:password@host: the database, Redis and SMTP URLs, in any message.
    (_URL_USERINFO, r"\1***@", ("://",)),
    # Authorization headers: as written, in a dict's repr, in httpcore's byte tuples.
    (
        re.compile(
            r"(?i)(\bauthorization\b['\"]?\s*[:=,]\s*(?:b?['\"])?(?:(?:bearer|basic|token)\s+)?)[^\s'\",)}\]]+"
        ),
        r"\1***",
        ("authorization",),
    ),
    # The callback URL's secret path segment (uvicorn's access log, httpx, our own lines);
    # not the route template `{token}` of the request log.
    (re.compile(r"(/api/payhero/callback/)(?!\{token\})[^/\s?#'\"]+"), r"\1***", ("/api/payhero/callback/",)),
    # Known fields: password=…, "callback_token": "…", api_key: …, db_password=…. Anchored on
    # the keyword, not on the word boundary before the field's name: the redacted text is the
    # same (whatever precedes a keyword within its word is kept either way), without trying a
    # lazy prefix at every word of every line (tests/test_redaction_equivalence.py).
    (
        re.compile(
            r"(?i)((?:password|passwd|secret|token|api[_-]?key|signing[_-]key)"
            r"[\"']?\s*[:=]\s*[\"']?)[^\s'\",&}]+"
        ),
        r"\1***",
        ("passw", "secret", "token", "key"),
    ),
)
# A secret this long is also blanked wherever else it appears whole (an exception's text):
# nothing that long matches ordinary words by chance. Shorter ones only where they sit.
SAFETY_NET_MIN_LENGTH = 12


def mask_url(url: str) -> str:
    """Hide the password of a `scheme://user:password@host/...` URL."""
    return _URL_USERINFO.sub(r"\1***@", url)


def redact(line: str, safety_net: re.Pattern[str] | None = None) -> str:
    """`line` with the secrets blanked where they sit, and any long known secret anywhere.

    A pattern runs only on a line holding a word it cannot match without (its `needles`,
    lower case): most lines hold none, and the four patterns cost ~40 µs a line where the
    search costs ~1, on every line the callback and fan-out paths log (bench.fanout). A
    line with any non-ASCII character runs them all: under IGNORECASE a pattern matches
    letters (the Kelvin sign, the long s) that lower-casing does not turn into its needle.
    """
    folded = line.lower() if line.isascii() else None
    for pattern, replacement, needles in _WHERE_SECRETS_SIT:
        if folded is None or any(needle in folded for needle in needles):
            line = pattern.sub(replacement, line)
    if safety_net is not None:
        line = safety_net.sub("***", line)
    return line


# A `name=%s` in a message's template: the value is also a JSON field of that name.
_KEYED = re.compile(r"(?:(?<![\w.])([a-z_]+)=)?%(?:\.\d+)?([sdfr%])")
# Never their own fields, whatever the template says: the redaction looks for these in text.
_UNKEYED = ("password", "token", "secret", "key", "authorization", "phone", "email")
_RESERVED = frozenset({"time", "level", "logger", "message", "exception"})
_KEYED_CACHE: dict[str, tuple[tuple[int, str], ...]] = {}


def keyed_fields(template: str) -> tuple[tuple[int, str], ...]:
    """(argument index, field name) of each `name=%s` placeholder, once per template."""
    found = _KEYED_CACHE.get(template)
    if found is None:
        pairs = []
        index = 0
        for match in _KEYED.finditer(template):
            if match.group(2) == "%":
                continue
            name = match.group(1)
            if name and name not in _RESERVED and not any(word in name for word in _UNKEYED):
                pairs.append((index, name))
            index += 1
        found = _KEYED_CACHE[template] = tuple(pairs) if len(_KEYED_CACHE) < 4096 else ()
    return found


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        # JSON where the values are; anything else (an `extra=` object) the encoder writes as
        # its text (default=str), so a log line never fails for what was logged.
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        # The values of `order=%s status=%s version=%d …` as fields of their own, so a log
        # search can ask for `order` or `status` without parsing the message.
        args = record.args
        if isinstance(args, tuple) and args and isinstance(record.msg, str):
            for index, name in keyed_fields(record.msg):
                if index < len(args):
                    entry[name] = args[index]
        # Structured fields passed with `extra=` (the request log's method, route, status...).
        entry.update((k, v) for k, v in vars(record).items() if k not in _RECORD_FIELDS)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return _JSON_ENCODER.encode(entry)


class TextFormatter(logging.Formatter):
    """`time level logger: message`, the time's text made once a second, not once a line."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self._second: tuple[int, str] = (-1, "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        second, text = self._second
        if int(record.created) != second:
            # One tuple, swapped whole: a thread logging at the same moment reads either.
            second = int(record.created)
            text = time.strftime(self.default_time_format, self.converter(record.created))
            self._second = (second, text)
        return f"{text},{int(record.msecs):03d}"  # logging's own default_msec_format, "%s,%03d"


class RedactingFormatter(logging.Formatter):
    """Blanks the secrets out of a finished line: message, arguments, traceback alike.

    On the finished line, so that no code path (a library's URL in a message, an exception
    text) can get around it: first where secrets sit (`_WHERE_SECRETS_SIT`), then each
    known secret of `SAFETY_NET_MIN_LENGTH` or more wherever it appears as a whole token,
    as written and as JSON escapes it. Never a short value inside other words.
    """

    def __init__(self, inner: logging.Formatter, secrets: Iterable[str]) -> None:
        super().__init__()
        self.inner = inner
        forms = {
            form
            for secret in secrets
            if len(secret) >= SAFETY_NET_MIN_LENGTH
            for form in (secret, json.dumps(secret)[1:-1])
        }
        # Looked for as plain substrings first: most lines hold none, and a substring test
        # costs a fraction of the pattern, which tries its look-behind at every character.
        self.secret_forms = tuple(sorted(forms, key=len, reverse=True))
        alternatives = "|".join(re.escape(form) for form in self.secret_forms)
        # Whole tokens only: not inside a longer run of letters, digits, `-` or `_`.
        self.safety_net = (
            re.compile(rf"(?<![A-Za-z0-9_-])(?:{alternatives})(?![A-Za-z0-9_-])") if forms else None
        )

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(self.inner.format(record))

    def redact(self, line: str) -> str:
        holds_a_secret = any(form in line for form in self.secret_forms)
        return redact(line, self.safety_net if holds_a_secret else None)


# uvicorn's start and stop lines, written as they come: after its last ("Finished server
# process") uvicorn raises the SIGTERM it caught again, and the process dies of it at once,
# with no loop turn and no `logging.shutdown` left to write kept lines.
_AT_ONCE = frozenset({"uvicorn.error"})


# How long an INFO line may wait to be written with the others of its while.
WRITE_INTERVAL = 0.02


class BatchedStreamHandler(logging.StreamHandler[TextIO]):
    """A stream handler that writes the lines of a short while in one write.

    Each line is formatted as it is logged (the same text, byte for byte, as a plain
    StreamHandler's) and kept; the first line kept asks the running event loop to write
    them all `interval` seconds later (0: at its next turn). A callback logs four INFO
    lines, and each cost a write and a flush of its own: a system call, and on a pipe (a
    platform's log collector) a wake-up of the reader (docs/BENCHMARKS.md, "Half the CPU
    per callback"). A write a turn saved little, since a turn rarely holds more than one
    line; a write every 20 ms holds all of them.

    Written at once, with whatever is kept before them: a WARNING or worse, uvicorn's start
    and stop lines, a line logged where no loop runs (a thread, a command), a line of
    another loop than the one holding the pending write, and the `capacity`-th line kept.
    `flush()` writes what is kept: the lifespan's end calls it (`flush_logs`), and so does
    `logging.shutdown` at exit. So a process killed outright loses at most its last
    `interval` of INFO lines, never a warning.
    """

    def __init__(
        self, stream: TextIO | None = None, *, interval: float = WRITE_INTERVAL, capacity: int = 512
    ) -> None:
        super().__init__(stream)
        self.interval = interval
        self.capacity = capacity
        self._kept: list[str] = []
        # The loop that will write the kept lines, if one will.
        self._pending_on: asyncio.AbstractEventLoop | None = None

    def emit(self, record: logging.LogRecord) -> None:
        # Called with the handler's lock held (`Handler.handle`).
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        self._kept.append(line)
        if record.levelno >= logging.WARNING or record.name in _AT_ONCE or len(self._kept) >= self.capacity:
            self.flush()
            return
        loop: asyncio.AbstractEventLoop | None = asyncio._get_running_loop()
        if loop is not None and loop is self._pending_on:
            return
        if loop is None or self._pending_on is not None:
            # No loop to wait for, or a write pending on another loop (one that stopped
            # before its turn came, or runs in another thread): keep the order, write now.
            self.flush()
            return
        self._pending_on = loop
        if self.interval:
            loop.call_later(self.interval, self._write_kept, loop)
        else:
            loop.call_soon(self._write_kept, loop)

    def _write_kept(self, loop: asyncio.AbstractEventLoop) -> None:
        self.acquire()
        try:
            if self._pending_on is loop:
                self.flush()
        finally:
            self.release()

    def flush(self) -> None:
        self.acquire()  # a lock that is reentrant: `emit` calls this holding it
        try:
            self._pending_on = None
            if not self._kept:
                # Every write flushed itself. Not touching the stream also spares one a test
                # has closed since (pytest's capture), as a plain handler that logs nothing.
                return
            text = self.terminator.join(self._kept) + self.terminator
            count = len(self._kept)
            self._kept.clear()
            try:
                self.stream.write(text)
                super().flush()
            except Exception:
                failed = {"msg": "writing %d kept log lines", "args": (count,)}
                self.handleError(logging.makeLogRecord(failed))
        finally:
            self.release()


def flush_logs() -> None:
    """Write the lines the service's handler keeps for a while (at shutdown)."""
    for handler in logging.getLogger(_OWN_LOGGERS[0]).handlers:
        # Only ours: another handler's stream (a test's capture) may be closed by now.
        if isinstance(handler, BatchedStreamHandler):
            handler.flush()


def configure_logging(level: str = "INFO", fmt: str = "text", secrets: Iterable[str] = ()) -> None:
    """Send the service's, uvicorn's and httpx's lines through one handler: one format, redacted.

    The handler writes the lines of 20 ms together (`BatchedStreamHandler`).

    Safe to call again: uvicorn builds its own handlers when its Config is made, which in
    tests and programmatic runs happens after the app; the lifespan calls this once more.
    """
    # Lines kept by the handler this one replaces are written first, in their order.
    flush_logs()
    # The stream as it is now: tests capture output by replacing `sys.stderr`.
    handler = BatchedStreamHandler(sys.stderr)
    inner: logging.Formatter
    if fmt == "json":
        inner = JsonFormatter()
    else:
        inner = TextFormatter()
    # Neither format shows where a line was logged from, nor the thread or process: not
    # looking them up (a frame walk, a lock, two lookups per record) saves ~a tenth of the
    # logging's cost, four lines on every callback (docs/BENCHMARKS.md). The logging HOWTO's
    # "Optimization" section names these switches.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler.setFormatter(RedactingFormatter(inner, secrets))
    for name in _OWN_LOGGERS + _UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        # uvicorn's --no-access-log leaves uvicorn.access without handlers: keep it silent.
        if name in _OWN_LOGGERS or logger.handlers:
            logger.handlers[:] = [handler]
            logger.propagate = False
    logging.getLogger("server").setLevel(level)
    # One line per PayHero request is noise unless debugging; failures surface as our warnings.
    logging.getLogger("httpx").setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)
