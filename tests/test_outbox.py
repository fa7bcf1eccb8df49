"""The outbox on SQLite and PostgreSQL: written once per key, claimed by one sender at a
time, retried with backoff and never dropped, and `deliver-emails` from the command line."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import email
import email.policy
import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor

import pytest
import sqlalchemy as sa

from server.clock import now_ms
from server.fulfilment import build_outbox_worker
from server.lifecycle import COMPLETED
from server.mail import Composing
from server.mail.delivery import OutboxWorker, backoff_seconds
from server.mail.outgoing import OutgoingMail
from server.mail.transport import SendFailed
from server.orders.validation import CheckoutRequest
from server.services import Services
from server.settings import Settings
from server.store.database import MIGRATIONS, SCHEMA_VERSION_TABLE, migrate, open_database
from server.store.failures import StoreUnavailable
from server.store.rows import OutboxRow
from server.store.tables import outbox
from server.transitions.change import Change
from server.transitions.outbox_rows import enqueue
from tests.backends import free_port
from tests.fulfilment_helpers import outbox_rows, paid_order, run_cli


class Recorder:
    """A mail server stand-in that remembers every hand-over, and can be told to fail."""

    kind = "test"

    def __init__(self, failing: bool = False) -> None:
        self.keys: list[str] = []
        self.failing = failing

    async def send(self, mail: OutgoingMail, key: str) -> str:
        await asyncio.sleep(0.005)  # a hand-over takes time: lets two workers overlap
        if self.failing:
            raise SendFailed("421 try again later")
        self.keys.append(key)
        return "recorder"

    def close(self) -> None:
        pass


# Workers the tests build, closed after each test: each may have a composing process.
_built: list[OutboxWorker] = []


@pytest.fixture(autouse=True)
def close_built_workers() -> Iterator[None]:
    yield
    while _built:
        _built.pop().close()


def worker(services: Services, sender: Recorder, **knobs: float) -> OutboxWorker:
    built = build_outbox_worker(services.settings, services.database)
    _built.append(built)
    built.sender = sender
    for name, value in knobs.items():
        setattr(built, name, value)
    return built


def test_backoff_doubles_from_the_base_up_to_the_cap() -> None:
    assert [backoff_seconds(n, 5, 60) for n in range(1, 7)] == [5, 10, 20, 40, 60, 60]
    assert backoff_seconds(500, 5, 3600) == 3600


async def test_the_same_key_is_written_once(services: Services) -> None:
    order = await paid_order(services, "amina@example.com")
    before = await outbox_rows(services.database)
    assert sorted(r["kind"] for r in before) == ["receipt", "tickets", "welcome"]
    again = await enqueue(
        services.database,
        key=f"order:{order.order_id}:receipt",
        kind="receipt",
        order_id=order.order_id,
        recipient="amina@example.com",
        payload={},
    )
    assert again is False
    assert await outbox_rows(services.database) == before


async def test_a_customer_who_paid_before_is_not_welcomed_again(services: Services) -> None:
    # The welcome's condition is the store's "paid for another order?", not only its key: an
    # outbox without the first welcome (restored from a backup without the mail queue, or
    # paid before welcomes existed) must not welcome a returning customer.
    first = await paid_order(services, "wanjiru@example.com")
    await services.database.execute(sa.delete(outbox))
    request = CheckoutRequest(
        "demo-fest",
        "early-bird",
        1,
        "wanjiru@example.com",
        "Wanjiru",
        "Kamau",
        "254712349999",
        confirm_repeat=True,
    )
    second = (await services.checkout.place(request)).update
    change = Change(COMPLETED, source="test", fields={"result_code": 0, "receipt_number": "SAE2NDPAY01"})
    await services.changes.apply(second.order_id, change)
    rows = await outbox_rows(services.database)
    assert {(r["order_id"], r["kind"]) for r in rows} == {
        (second.order_id, "tickets"),
        (second.order_id, "receipt"),
    }
    assert first.order_id != second.order_id
    assert {r["recipient"] for r in rows} == {"wanjiru@example.com"}


async def test_two_workers_never_send_the_same_row(services: Services) -> None:
    for number in range(4):
        await paid_order(services, f"buyer{number}@example.com")
    rows = await outbox_rows(services.database)
    assert len(rows) == 12
    # A second process: its own connection pool on the same database.
    other_database = open_database(services.settings.database_url)
    await other_database.connect()
    try:
        first, second = Recorder(), Recorder()
        here = worker(services, first)
        there = build_outbox_worker(services.settings, other_database)
        _built.append(there)
        there.sender = second
        reports = await asyncio.gather(here.deliver_due(), there.deliver_due(), here.deliver_due())
    finally:
        await other_database.disconnect()
    sent = first.keys + second.keys
    assert sorted(sent) == sorted(r["key"] for r in rows)  # each row exactly once
    assert sum(r.sent for r in reports) == 12
    assert all(r["sent_ms"] is not None and r["attempts"] == 1 for r in await outbox_rows(services.database))


async def test_a_row_leased_by_another_process_waits_for_the_lease(services: Services) -> None:
    await paid_order(services, "amina@example.com")
    leased = (await outbox_rows(services.database))[0]["id"]
    # As if another process took it and is sending (or died while sending).
    await services.database.execute(
        outbox.update().where(outbox.c.id == leased).values(locked_until_ms=now_ms() + 60_000, claim="other")
    )
    sender = Recorder()
    assert (await worker(services, sender).deliver_due(include_waiting=True)).sent == 2
    await services.database.execute(
        outbox.update().where(outbox.c.id == leased).values(locked_until_ms=now_ms() - 1)
    )
    assert (await worker(services, sender).deliver_due()).sent == 1  # the lease ran out
    assert len(sender.keys) == 3 and len(set(sender.keys)) == 3


async def test_a_failed_send_is_kept_and_retried_later_never_dropped(services: Services) -> None:
    await paid_order(services, "amina@example.com")
    failing = worker(services, Recorder(failing=True), retry_base=30.0, retry_max=300.0)
    report = await failing.deliver_due()
    assert (report.sent, report.failed) == (0, 3)
    rows = await outbox_rows(services.database)
    for row in rows:
        assert row["sent_ms"] is None and row["attempts"] == 1 and row["last_error"] == "421 try again later"
        assert row["locked_until_ms"] is None and row["next_attempt_ms"] >= now_ms() + 25_000
    # Not due yet: a normal pass leaves them; a second failure doubles the wait.
    assert (await failing.deliver_due()).failed == 0
    await failing.deliver_due(include_waiting=True)
    rows = await outbox_rows(services.database)
    assert all(r["attempts"] == 2 and r["next_attempt_ms"] >= now_ms() + 55_000 for r in rows)
    recovered = Recorder()
    assert (await worker(services, recovered).deliver_due(include_waiting=True)).sent == 3
    assert await failing.pending() == 0


async def test_an_older_database_gets_the_outbox_table(
    stack: tuple[str, str], make_settings: Callable[..., Settings]
) -> None:
    database = open_database(make_settings(*stack).database_url)
    await database.connect()
    try:
        await migrate(database)
        # Make it look like a database from before fulfilment: schema 1, no outbox.
        await database.execute("DROP TABLE outbox")
        await database.execute(f"DELETE FROM {SCHEMA_VERSION_TABLE} WHERE version > 1")
        await migrate(database)
        assert await database.fetch_val(sa.select(sa.func.count()).select_from(outbox)) == 0
        versions = await database.fetch_all(f"SELECT version FROM {SCHEMA_VERSION_TABLE} ORDER BY version")
        assert [v[0] for v in versions] == list(range(1, len(MIGRATIONS) + 1))
    finally:
        await database.disconnect()


async def test_deliver_emails_writes_eml_files_and_exits(services: Services) -> None:
    order = await paid_order(services, "amina@example.com", quantity=2)
    status, output = await run_cli(services.settings, "deliver-emails")
    assert status == 0, output
    assert "sent 3, failed 0, still pending 0" in output
    files = sorted((services.settings.data_dir / "outbox").glob("*.eml"))
    names = [f.name for f in files]
    assert f"order_{order.order_id}_tickets.eml" in names and f"order_{order.order_id}_receipt.eml" in names
    kinds = set()
    for path in files:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert message["To"] == "amina@example.com" and order.document["order_number"] in message.as_string()
        kinds.add(str(message["Subject"]).split()[0])
    assert kinds == {"Welcome,", "Your", "Receipt"}
    status, output = await run_cli(services.settings, "deliver-emails")
    assert status == 0 and "sent 0, failed 0, still pending 0" in output


async def test_deliver_emails_exits_non_zero_when_the_mail_server_is_down(services: Services) -> None:
    await paid_order(services, "amina@example.com")
    nobody = {"SMTP_URL": f"smtp://127.0.0.1:{free_port()}"}
    status, output = await run_cli(services.settings, "deliver-emails", extra_env=nobody)
    assert status == 1 and "sent 0, failed 3, still pending 3" in output
    assert all(r["sent_ms"] is None for r in await outbox_rows(services.database))  # kept


async def test_the_logs_never_carry_a_full_address(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    logger = logging.getLogger("server")
    # The app's logging set-up stops propagation to the root: listen on "server" itself.
    logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.INFO, logger="server"):
            await paid_order(services, "amina.otieno@example.com")
            await worker(services, Recorder()).deliver_due()
            await worker(services, Recorder(failing=True)).deliver_due()
    finally:
        logger.removeHandler(caplog.handler)
    assert "e-mail sent" in caplog.text and "a***********@example.com" in caplog.text
    assert "amina.otieno" not in caplog.text and "254712349999" not in caplog.text


def composing_processes() -> list[multiprocessing.process.BaseProcess]:
    return [child for child in multiprocessing.active_children() if child.name.startswith("ForkServer")]


async def test_e_mails_are_composed_in_a_process_of_their_own(services: Services) -> None:
    await paid_order(services, "amina@example.com")
    sender = Recorder()
    assert (await worker(services, sender).deliver_due()).sent == 3
    assert len(composing_processes()) == services.settings.mail_compose_processes == 1


async def test_the_composing_processes_all_start_off_the_event_loop(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Starting one waits for the forkserver to fork it: on the loop, that stalled every
    # waiter at a sale's first paid order (docs/BENCHMARKS.md, "The last pause").
    started_in: list[int] = []
    start = Composing._start

    def recorded(composing: Composing) -> ProcessPoolExecutor:
        started_in.append(threading.get_ident())
        return start(composing)

    monkeypatch.setattr(Composing, "_start", recorded)
    services = dataclasses.replace(
        services, settings=services.settings.with_overrides(mail_compose_processes=2)
    )
    await paid_order(services, "amina@example.com")
    built = worker(services, Recorder())
    rows = await outbox_rows(services.database)
    # Two e-mails at once: the second waits for the pool the first one started, not another.
    await asyncio.gather(*(built.composing.compose(OutboxRow.from_mapping(row)) for row in rows[:2]))
    assert len(started_in) == 1 and started_in[0] != threading.get_ident()
    # Both processes were up before the first e-mail was composed: none starts later, on the loop.
    assert len(composing_processes()) == 2


async def test_a_composing_process_that_dies_loses_no_e_mail(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    await paid_order(services, "amina@example.com")
    rows = await outbox_rows(services.database)
    sender = Recorder()
    built = worker(services, sender, retry_base=30.0, retry_max=300.0)
    await built.composing.compose(OutboxRow.from_mapping(rows[0]))  # the process is up
    for child in composing_processes():  # as the kernel's OOM killer would
        os.kill(child.pid or 0, signal.SIGKILL)
        child.join()
    report = await built.deliver_due()
    # The e-mail in hand when it died is retried later; a new process takes the others.
    assert (report.sent, report.failed) == (2, 1)
    assert "composing process died" in caplog.text
    assert (await built.deliver_due(include_waiting=True)).sent == 1
    assert sorted(sender.keys) == sorted(r["key"] for r in rows)


async def test_with_no_composing_process_e_mails_are_composed_in_a_thread(services: Services) -> None:
    services = dataclasses.replace(
        services, settings=services.settings.with_overrides(mail_compose_processes=0)
    )
    sender = Recorder()
    await paid_order(services, "amina@example.com")
    assert (await worker(services, sender).deliver_due()).sent == 3
    assert composing_processes() == []


class Counted(Recorder):
    """A Recorder that says when it has taken `expected` e-mails."""

    def __init__(self, expected: int) -> None:
        super().__init__()
        self.expected = expected
        self.all_taken = asyncio.Event()

    async def send(self, mail: OutgoingMail, key: str) -> str:
        sent = await super().send(mail, key)
        if len(self.keys) == self.expected:
            self.all_taken.set()
        return sent


class Lines(logging.Handler):
    """The records of one logger, and an event set at the first."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.first = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.first.set()


@pytest.mark.parametrize(
    ("failure", "level", "with_traceback"),
    [
        (StoreUnavailable("TimeoutError: no pool connection in 5s"), logging.WARNING, False),
        (RuntimeError("a bug in the pass"), logging.ERROR, True),
    ],
)
async def test_a_pass_the_store_refused_is_one_warning_and_the_e_mails_go_at_the_next_commit(
    services: Services,
    monkeypatch: pytest.MonkeyPatch,
    failure: Exception,
    level: int,
    with_traceback: bool,
) -> None:
    # In a sale past the host's capacity the PostgreSQL pool refuses the outbox's pass: that
    # was three tracebacks an ERROR each time, for a refusal the store already named.
    await paid_order(services, "amina@example.com")
    sender = Counted(expected=3)
    built = worker(services, sender, poll_interval=3600.0)
    deliver_due = built.deliver_due
    failures = [failure]

    async def refused_once(*, include_waiting: bool = False) -> object:
        if failures:
            raise failures.pop()
        return await deliver_due(include_waiting=include_waiting)

    monkeypatch.setattr(built, "deliver_due", refused_once)
    lines = Lines()
    logger = logging.getLogger("server.mail")
    logger.addHandler(lines)
    running = asyncio.create_task(built.run())
    try:
        await asyncio.wait_for(lines.first.wait(), 10)
        [line] = lines.records
        assert line.levelno == level and (line.exc_info is not None) == with_traceback
        assert line.getMessage().startswith("outbox pass ")
        assert "trying again when a change commits, or in 3600s" in line.getMessage()
        built.notify()  # a change commits: the hour's pause is not waited out
        await asyncio.wait_for(sender.all_taken.wait(), 10)
    finally:
        logger.removeHandler(lines)
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
    # The pass after it sent all three and had nothing to complain of.
    assert [r.levelno for r in lines.records if r.levelno >= logging.WARNING] == [level]
