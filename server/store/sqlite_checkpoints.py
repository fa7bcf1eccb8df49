"""WAL checkpoints on a thread of their own, not on the event loop.

SQLite's default is to checkpoint inside the COMMIT that takes the WAL past 1,000 frames:
that commit copies every page the WAL holds into the database file and syncs both files
(`fdatasync` twice), on the thread that committed. Here that is the event loop's thread
(sqlite_backend.py runs statements on it), so every thirty-odd paid callbacks the loop
stopped for a copy and two disk syncs, and paid the copy's CPU, in the middle of a sale
(docs/BENCHMARKS.md, "WAL checkpoints off the loop").

`Checkpointer` does them instead, on its own connection and thread: woken after every
`every` commits the loop reports (`committed()`, an increment and, rarely, an Event set),
and once every `idle` seconds so a quiet file is still folded back in. Python's sqlite3
releases the GIL while SQLite works, so the copy and the syncs run beside the loop, on
the other core. A PASSIVE checkpoint never waits on readers or the writer: what it cannot
copy yet it leaves for the next one. The service's connections keep SQLite's own automatic
checkpoint as a safety net, at `SAFETY_NET_FRAMES`, far past what the thread lets the WAL
reach while it keeps up.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

log = logging.getLogger(__name__)

# Commits between two checkpoints: ~30 frames a paid callback's, ~25 a checkout's, so about
# the 1,000 frames of SQLite's own default, without the loop paying for them.
CHECKPOINT_EVERY_COMMITS = 40
# A quiet file is checkpointed this often (a PASSIVE checkpoint with nothing to copy is a
# few lookups).
CHECKPOINT_IDLE_SECONDS = 2.0
# The automatic checkpoint of the service's own connections, should the thread fall behind
# (40 MB of WAL at 4 KB pages).
SAFETY_NET_FRAMES = 10_000


class Checkpointer:
    """One thread that checkpoints one SQLite file's WAL when told (`committed`) or idle."""

    def __init__(
        self,
        path: str,
        *,
        every: int = CHECKPOINT_EVERY_COMMITS,
        idle: float = CHECKPOINT_IDLE_SECONDS,
    ) -> None:
        self.path = path
        self.every = every
        self.idle = idle
        # Checkpoints run so far, and a condition told of each (`wait_for_runs`).
        self.runs = 0
        self._ran = threading.Condition()
        self._commits = 0
        self._due = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping = False
        self._due.clear()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoints", daemon=True)
        self._thread.start()

    def committed(self) -> None:
        """A commit on the loop's connections: after `every` of them, a checkpoint is due."""
        self._commits += 1
        if self._commits >= self.every:
            self._commits = 0
            self._due.set()

    def wait_for_runs(self, runs: int, timeout: float) -> bool:
        """Blocks until `runs` checkpoints have run (True) or `timeout` passes (False)."""
        with self._ran:
            return self._ran.wait_for(lambda: self.runs >= runs, timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Ends the thread after the checkpoint it may be running."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopping = True
        self._due.set()
        thread.join(timeout)
        if thread.is_alive():
            log.warning("the SQLite checkpoint thread did not end within %.0f s", timeout)

    def _run(self) -> None:
        try:
            connection = sqlite3.connect(self.path, isolation_level=None, timeout=0, check_same_thread=False)
        except sqlite3.Error as exc:
            log.warning("no SQLite checkpoint thread (%s): SQLite's own checkpoints stand in", exc)
            return
        try:
            while True:
                self._due.wait(self.idle)
                self._due.clear()
                if self._stopping:
                    return
                self._checkpoint(connection)
        finally:
            connection.close()

    def _checkpoint(self, connection: sqlite3.Connection) -> None:
        try:
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as exc:
            # Another process checkpointing, a disk that fails: the next try, or SQLite's
            # own safety net, folds the WAL in. The commits themselves are safe in the WAL.
            log.warning("SQLite checkpoint failed: %s", exc)
            return
        with self._ran:
            self.runs += 1
            self._ran.notify_all()
