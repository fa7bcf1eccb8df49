"""Composing e-mails away from the event loop: in a process of its own unless told otherwise.

A tickets e-mail renders its QR PNGs in pure Python, a few milliseconds each. In a thread
that work holds the GIL in slices of up to 5 ms (`sys.getswitchinterval()`), and each slice
is time the event loop can neither answer a callback nor wake a waiter: profiles of the
fan-out benchmark put a fifth of the service's samples there (docs/BENCHMARKS.md). A
process of its own takes it to the other core. `MAIL_COMPOSE_PROCESSES=0` composes in a
thread instead, for a machine where one process is all there may be.

Either way what comes back is the e-mail already flattened to bytes (`OutgoingMail`,
server/mail/outgoing.py): flattening is CPU work too, and a few bytes cost the service far
less to unpickle than a message object with its images.

The process is started on first use through `forkserver`, never forked from the service
itself (a fork of a running event loop with its threads and sockets is unsafe), and
builds its own `Composer` from the same settings. If it dies, that e-mail fails like any
other (retried by the outbox) and the next one starts a new process.

Started from a thread, every process of the pool at once: starting one blocks its caller
until the forkserver (a new interpreter, the first time) has forked it. On the loop, that
was the longest stall of a sale's first payments, 134 ms with 3 ms of CPU at 5,000 held
on a loaded machine (docs/BENCHMARKS.md, "The last pause"), and each later e-mail that
found no idle process started one more there.

It must also die with the service, however the service dies. Killed with SIGKILL (the OOM
killer, a platform replacing a worker) the service closes nothing, and the composing
process, its forkserver and the resource tracker lived on, 65-78 MB each time: the worker
waits forever on its call queue (it holds both ends of that pipe), the forkserver exits
only once every process that knows it is gone, the worker included, and the tracker only
once the forkserver and the worker are. So the worker is given the read end of a pipe
whose only write end stays in the service: a thread in the worker reads it, and when the
service is gone the read meets EOF and the worker exits; then the forkserver, then the
tracker, in a few milliseconds (tests/test_orphans.py).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import Connection

from server.mail.messages import Composer
from server.mail.outgoing import OutgoingMail, flattened
from server.store.rows import OutboxRow

log = logging.getLogger("server.mail")

# The composing process's own Composer, built once by `_start_composer`.
_composer: Composer | None = None
# How much lower a composing process's CPU priority is than the service's (`nice`). An e-mail
# may wait a few seconds; the webhook's answer and the waiters' screens may not. In a
# 5,000-buyer sale on two cores the composing processes used more CPU than the event loop
# (51-59 s against 43-50), and at the same priority they took it in the loop's busiest
# seconds: callback -> screen p99 24.9-26.7 ms, 21.6 with this (docs/BENCHMARKS.md, "Issue
# 22's last cut"). An idle loop leaves them the whole core, so the outbox still drains.
COMPOSING_NICENESS = 10


def _start_composer(mail_from: str, public_base_url: str, lifeline: Connection) -> None:
    global _composer
    # Ctrl-C in a terminal reaches the whole process group: the service decides, not us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.nice(COMPOSING_NICENESS)
    threading.Thread(target=_exit_with_service, args=(lifeline,), name="lifeline", daemon=True).start()
    _composer = Composer(mail_from, public_base_url)


def _exit_with_service(lifeline: Connection) -> None:
    """Wait for EOF on the lifeline (the service is gone, or closed it), then exit at once."""
    try:
        while True:
            lifeline.recv_bytes()
    except (EOFError, OSError):
        pass
    os._exit(0)


def _ready() -> None:
    """A no-op: done once each process of a new pool has started and run its initializer."""


def composed(composer: Composer, row: OutboxRow) -> OutgoingMail:
    """The outbox row's e-mail, composed and flattened: all of it CPU work, run off the loop."""
    return flattened(composer.compose(row))


def _compose(row: OutboxRow) -> OutgoingMail:
    assert _composer is not None, "composing process not initialised"
    return composed(_composer, row)


class Composing:
    """`await compose(row)`: the outbox row's e-mail, composed and flattened in a process or a thread."""

    def __init__(self, composer: Composer, processes: int) -> None:
        self.composer = composer
        self.processes = processes
        self._pool: ProcessPoolExecutor | None = None
        # A pool being started in a thread: the e-mails that come meanwhile wait for it.
        self._starting: asyncio.Future[ProcessPoolExecutor] | None = None
        self._closed = False
        # The write end of the composing processes' lifeline: held here and nowhere else.
        self._lifeline: Connection | None = None

    async def compose(self, row: OutboxRow) -> OutgoingMail:
        if self.processes == 0:
            return await asyncio.to_thread(composed, self.composer, row)
        starting = self._starting
        if starting is None:
            starting = self._starting = asyncio.ensure_future(asyncio.to_thread(self._start))
            # Its failure is each waiting e-mail's; with none left waiting (the service
            # stopping), asyncio would report it as never retrieved.
            starting.add_done_callback(lambda done: done.cancelled() or done.exception())
        try:
            pool = await asyncio.shield(starting)
            return await asyncio.get_running_loop().run_in_executor(pool, _compose, row)
        except BrokenProcessPool:
            log.warning("the e-mail composing process died; a new one starts with the next e-mail")
            if self._starting is starting:
                self._starting = None
                if self._pool is not None:
                    self._pool.shutdown(wait=False, cancel_futures=True)
                    self._pool = None
                self._cut_lifeline()
            raise

    def close(self) -> None:
        """Stop the composing processes, waiting for them: at most one e-mail's composing."""
        self._closed = True
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._cut_lifeline()

    def _cut_lifeline(self) -> None:
        if self._lifeline is not None:
            self._lifeline.close()
            self._lifeline = None

    def _start(self) -> ProcessPoolExecutor:
        """A new pool with all its processes up: run in a thread, never on the loop."""
        context = multiprocessing.get_context("forkserver")
        # The forkserver imports this module (and so the composer, the QR code, the
        # templates' code) once; each composing process forks from it with all that done.
        # Imported in each process instead, it was ~0.5 s of CPU per process started: in the
        # test suite, ~220 of them, a tenth of its CPU. Only read when the forkserver starts
        # (the first pool of this process); an import that fails there is tried again in
        # the composing process, which then fails as before.
        context.set_forkserver_preload([__name__])
        # The read end goes to each composing process (passed by the forkserver as a file
        # descriptor); it is also kept here, unused, for processes the pool starts later.
        lifeline_r, self._lifeline = context.Pipe(duplex=False)
        pool = ProcessPoolExecutor(
            max_workers=self.processes,
            mp_context=context,
            initializer=_start_composer,
            initargs=(self.composer.mail_from, self.composer.public_base_url, lifeline_r),
        )
        # Each submit finding no idle process starts one: all of them now, and each has run
        # its initializer when its no-op is done (a failing one raises BrokenProcessPool).
        try:
            for done in [pool.submit(_ready) for _ in range(self.processes)]:
                done.result()
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        self._pool = pool
        if self._closed:  # the service stopped while they were starting
            self.close()
        log.info("e-mails are composed in %d process(es) of their own", self.processes)
        return pool
