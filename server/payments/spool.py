"""PayHero callbacks the store refused before storing them, kept on the local disk.

PayHero documents no retry (`../shared/payhero/README.md`). A callback the database could
not store is answered `503 store_unavailable` (docs/API.md), and was then known only to the
expiry pass's question to PayHero, if PayHero could be asked. Now its body is also kept here:
one file per callback under `DATA_DIR/callback-spool/`, written 0600, flushed to the disk and
renamed into place whole, and handed to the callback processor again once the store answers:
at start and before every expiry pass. It is then stored and applied as any callback is; one
PayHero did send again meanwhile is recognised as a duplicate.

Several processes on one disk share the folder: a process claims a file by renaming it before
applying it, and renames it back if the store is still down. A claim left by a process that
died is given back after `CLAIM_STALE_AFTER`. What this cannot keep is a disk the platform
replaces at restart (a dyno's): the expiry pass still asks PayHero, and holds for review an
order it cannot ask about.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from server.private_files import private_dir, write_private
from server.store.failures import StoreUnavailable

log = logging.getLogger("server.payments")

SPOOL_DIR = "callback-spool"
SUFFIX = ".callback"
CLAIMED = ".claimed-"
# Longer than any one callback takes to apply, even waiting on PayHero's status check.
CLAIM_STALE_AFTER = 300.0
_KEPT = itertools.count()


class CallbackSpool:
    """A folder of callback bodies waiting for the store."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        # Told the task's name when a kept callback could not be applied (a bug): /metrics.
        self.on_error: Callable[[str], None] | None = None

    async def keep(self, body: bytes) -> bool:
        """Write `body` to the disk before the 503 goes out (off the event loop). False, and
        an error logged, when the disk refuses too: the 503 stands either way."""
        try:
            path = await asyncio.to_thread(self._write, body)
        except OSError:
            log.exception("a callback the store refused could not be kept on disk either")
            return False
        log.warning("callback kept on disk for the store: %s (%d bytes)", path.name, len(body))
        return True

    def waiting(self) -> list[Path]:
        """The kept callbacks not claimed by any process, oldest first (names start with
        the time they were kept)."""
        if not self.folder.is_dir():
            return []
        return sorted(self.folder.glob(f"*{SUFFIX}"))

    async def replay(self, receive: Callable[[bytes], Awaitable[object]]) -> int:
        """Hand each kept callback to `receive` (store, then apply), oldest first, and delete
        it once stored; stop at the first the store still refuses. Returns how many went."""
        self._give_back_stale_claims()
        went = 0
        for path in self.waiting():
            claimed = path.with_name(f"{path.name}{CLAIMED}{os.getpid()}")
            try:
                path.rename(claimed)
            except FileNotFoundError:
                continue  # another process claimed it
            os.utime(claimed)  # the claim's age, not the callback's, says when it is stale
            try:
                await receive(claimed.read_bytes())
            except StoreUnavailable:
                claimed.rename(path)
                log.warning("the store still refuses callbacks: %d kept on disk", len(self.waiting()))
                break
            except Exception:
                # Kept for a person (and tried again next time); the others go on, and so
                # does the expiry pass this replay runs before.
                claimed.rename(path)
                log.exception("callback %s kept on disk could not be applied; going on", path.name)
                if self.on_error is not None:
                    self.on_error("callback-spool")
                continue
            except BaseException:
                claimed.rename(path)
                raise
            claimed.unlink()
            went += 1
        if went:
            log.info("%d callback(s) kept on disk were stored and applied", went)
        return went

    def _write(self, body: bytes) -> Path:
        private_dir(self.folder)
        # Sorted by name is oldest first: the time, then this process's count (two kept in
        # one clock tick keep their order), then a random part (two processes' never clash).
        name = f"{time.time_ns():020d}-{next(_KEPT):08d}-{secrets.token_hex(6)}{SUFFIX}"
        path = self.folder / name
        write_private(path, body, durable=True)
        return path

    def _give_back_stale_claims(self) -> None:
        if not self.folder.is_dir():
            return
        old = time.time() - CLAIM_STALE_AFTER
        for claimed in self.folder.glob(f"*{SUFFIX}{CLAIMED}*"):
            try:
                if claimed.stat().st_mtime < old:
                    claimed.rename(claimed.with_name(claimed.name.split(CLAIMED, 1)[0]))
                    log.warning("callback %s claimed by a process that is gone: given back", claimed.name)
            except FileNotFoundError:
                continue
