"""Delivering the outbox after commit: at least once, never dropped, never two at a time.

The worker wakes when a committed change has written rows (`notify`), and otherwise polls
slowly, so rows written by another process, or left by one that died, go out too.

Each row is claimed with a conditional UPDATE that takes a lease (`locked_until_ms`) and
a claim token; only the holder of an unexpired lease sends, and only the holder may mark
the row sent or failed. Two processes (or a `deliver-emails` run beside the service) thus
never send the same row at the same time; a process that dies mid-send leaves a lease that
runs out, and the row is sent again later, with the same Message-ID (at least once).

A failure keeps the row and schedules it again after a delay that doubles from
`retry_base` up to `retry_max`: nothing is ever dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from server.clock import now_ms
from server.faults import crash_if
from server.logs import mask_email
from server.mail.composer_process import Composing
from server.mail.transport import MailSender, SendFailed
from server.store import Database, log_failed_pass
from server.store.prepared import Prepared
from server.store.rows import OutboxRow
from server.store.tables import outbox

log = logging.getLogger("server.mail")

BATCH = 50
# Never spin: the shortest pause between two passes that found nothing to do.
MIN_PAUSE = 0.01


@dataclass(frozen=True)
class DeliveryReport:
    sent: int = 0
    failed: int = 0


def backoff_seconds(attempts: int, base: float, cap: float) -> float:
    """Delay before attempt `attempts + 1`: base, 2x, 4x ... capped."""
    return float(min(cap, base * 2 ** max(0, attempts - 1)))


def _unlocked(now: Any) -> Any:
    """Rows no sender holds a lease on at `now`."""
    return sa.or_(outbox.c.locked_until_ms.is_(None), outbox.c.locked_until_ms < now)


# Run once per e-mail each: built and compiled once (server/store/prepared.py), where
# building and compiling them per e-mail cost the worker ~2% of the service's CPU while
# callbacks came in.
CLAIM = Prepared(
    outbox.update()
    .where(outbox.c.id == sa.bindparam("row_id"), outbox.c.sent_ms.is_(None), _unlocked(sa.bindparam("now")))
    .values(
        locked_until_ms=sa.bindparam("locked_until_ms"),
        claim=sa.bindparam("claim"),
        attempts=outbox.c.attempts + 1,
    )
    .returning(*outbox.c)
)
MARK_SENT = Prepared(
    outbox.update()
    .where(outbox.c.id == sa.bindparam("row_id"), outbox.c.sent_ms.is_(None))
    .values(sent_ms=sa.bindparam("sent_ms"), locked_until_ms=None, claim=None, last_error=None)
)
# Run once per pass, and a paid order's commit wakes a pass: built once too.
_UNSENT_AFTER = (
    sa.select(outbox.c.id)
    .where(outbox.c.sent_ms.is_(None), outbox.c.id > sa.bindparam("last_id"), _unlocked(sa.bindparam("now")))
    .order_by(outbox.c.id)
    .limit(BATCH)
)
DUE_AFTER = Prepared(_UNSENT_AFTER.where(outbox.c.next_attempt_ms <= sa.bindparam("due_by")))
UNSENT_AFTER = Prepared(_UNSENT_AFTER)
_DUE = sa.case(
    (outbox.c.locked_until_ms > outbox.c.next_attempt_ms, outbox.c.locked_until_ms),
    else_=outbox.c.next_attempt_ms,
)
EARLIEST_DUE = Prepared(sa.select(sa.func.min(_DUE)).where(outbox.c.sent_ms.is_(None)))


class OutboxWorker:
    """Sends the outbox's rows after commit: claims each under a lease, sends it, marks it sent
    or retries it later with backoff; a row whose process died is taken again after its lease."""

    def __init__(
        self,
        database: Database,
        composing: Composing,
        sender: MailSender,
        *,
        poll_interval: float,
        retry_base: float,
        retry_max: float,
        lease: float,
        crash_point: str | None = None,
    ) -> None:
        self.database = database
        self.composing = composing
        self.sender = sender
        self.poll_interval = poll_interval
        self.retry_base = retry_base
        self.retry_max = retry_max
        self.lease_ms = int(lease * 1000)
        self.crash_point = crash_point
        self._wake = asyncio.Event()

    def notify(self) -> None:
        """Rows were committed: deliver now instead of at the next poll."""
        self._wake.set()

    def close(self) -> None:
        """Stop what `deliver_due` started (the composing process, a kept SMTP connection);
        its owner calls this."""
        self.composing.close()
        self.sender.close()

    async def run(self) -> None:
        while True:
            try:
                await self.deliver_due()
                pause = await self._seconds_until_due()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                pause = self.poll_interval
                log_failed_pass(log, "outbox pass", f"when a change commits, or in {pause:.0f}s", exc)
            # asyncio.timeout, not wait_for: Python 3.11's wait_for returns normally when the
            # wake and stop()'s cancel land together, and the worker would run on.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(pause):
                    await self._wake.wait()
            # Cleared before the pass: a notify during the pass makes the next wait return.
            self._wake.clear()

    async def deliver_due(self, *, include_waiting: bool = False) -> DeliveryReport:
        """One pass over unsent rows; `include_waiting` also takes rows waiting out a
        backoff (the `deliver-emails` command). Rows another process holds are skipped."""
        sent = failed = 0
        last_id = 0
        while True:
            now = now_ms()
            if include_waiting:
                query = UNSENT_AFTER.bind(last_id=last_id, now=now)
            else:
                query = DUE_AFTER.bind(last_id=last_id, now=now, due_by=now)
            ids = [row["id"] for row in await self.database.fetch_all(query)]
            if not ids:
                return DeliveryReport(sent, failed)
            for row_id in ids:
                last_id = row_id
                claimed = await self._claim(row_id)
                if claimed is None:
                    continue  # another process took it between our SELECT and UPDATE
                if await self._deliver(claimed):
                    sent += 1
                else:
                    failed += 1

    async def pending(self) -> int:
        count = await self.database.fetch_val(
            sa.select(sa.func.count()).select_from(outbox).where(outbox.c.sent_ms.is_(None))
        )
        return int(count or 0)

    async def _claim(self, row_id: int) -> OutboxRow | None:
        now = now_ms()
        claim = secrets.token_hex(8)
        row = await self.database.fetch_one(
            CLAIM.bind(row_id=row_id, now=now, locked_until_ms=now + self.lease_ms, claim=claim)
        )
        return None if row is None else OutboxRow.from_mapping(row)

    async def _deliver(self, row: OutboxRow) -> bool:
        where = f"kind={row.kind} order={row.order_id or '-'} to={mask_email(row.recipient)}"
        crash_if(self.crash_point, "before-email-sent")
        try:
            # Rendering the QR PNGs and flattening the message is CPU work: done off the
            # event loop (server/mail/composer_process.py); the loop only moves the bytes.
            mail = await self.composing.compose(row)
            destination = await self.sender.send(mail, row.key)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            reason = str(exc) if isinstance(exc, SendFailed) else f"{type(exc).__name__}: {exc}"
            delay = backoff_seconds(row.attempts, self.retry_base, self.retry_max)
            # Only while the lease is ours: past it, another process may be on this row.
            await self.database.execute(
                outbox.update()
                .where(outbox.c.id == row.id, outbox.c.claim == row.claim)
                .values(
                    locked_until_ms=None,
                    claim=None,
                    next_attempt_ms=now_ms() + int(delay * 1000),
                    last_error=reason[:255],
                )
            )
            # A SendFailed is the mail server's business; anything else is a bug: traceback.
            log.log(
                logging.WARNING if isinstance(exc, SendFailed) else logging.ERROR,
                "e-mail not sent %s attempt=%d: %s; next try in %.1fs",
                where,
                row.attempts,
                reason,
                delay,
                exc_info=None if isinstance(exc, SendFailed) else exc,
            )
            return False
        # Marked sent even if the lease ran out meanwhile: it *was* sent, and that stops
        # another sender from picking it up again once its own attempt ends.
        await self.database.execute(MARK_SENT.bind(row_id=row.id, sent_ms=now_ms()))
        log.info(
            "e-mail sent %s attempt=%d via %s message-id=%s",
            where,
            row.attempts,
            destination,
            mail.message_id,
        )
        return True

    async def _seconds_until_due(self) -> float:
        """How long until the earliest unsent row may be tried: sleep no longer than that."""
        earliest = await self.database.fetch_val(EARLIEST_DUE.bind())
        if earliest is None:
            return self.poll_interval
        return min(self.poll_interval, max(MIN_PAUSE, (int(earliest) - now_ms()) / 1000))
