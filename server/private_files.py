"""Files and folders only the service's user may read: DATA_DIR, the SQLite files, the outbox.

The SQLite file holds names, e-mail addresses, phone numbers, callback bodies and ticket
codes, and each `.eml` in the outbox a customer's tickets: they were 0644 in a 0755 folder,
readable by every account on the host. Folders are made 0700 and files 0600 from the first
byte, and ones an earlier version left open are tightened at start. SQLite creates its
`-wal` and `-shm` files with the database file's own mode, so a private database file keeps
them private too.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("server.files")

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def _tighten(path: Path, mode: int) -> None:
    """Take group and other permissions away from a path this user owns."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return
    if not info.st_mode & 0o077 or info.st_uid != os.geteuid():
        return
    if stat.S_ISDIR(info.st_mode) and info.st_mode & stat.S_ISVTX:
        # A shared folder such as /tmp (sticky): its own files are private, it stays as it is.
        return
    os.chmod(path, mode)
    log.info("made %s private to the service's user (%o)", path, mode)


def private_dir(path: Path) -> Path:
    """`path` as a folder only this user can enter: created 0700, or tightened to it."""
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    _tighten(path, PRIVATE_DIR)
    return path


def private_file(path: Path) -> None:
    """Create `path` empty and 0600 if it is missing (an empty file is an empty SQLite
    database), else tighten it to 0600."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
    except FileExistsError:
        _tighten(path, PRIVATE_FILE)


def private_sqlite_file(path: Path) -> None:
    """The database file and its WAL companions, private, before SQLite opens them."""
    private_dir(path.parent)
    private_file(path)
    for suffix in ("-wal", "-shm"):
        _tighten(path.with_name(path.name + suffix), PRIVATE_FILE)


def write_private(path: Path, data: bytes, *, durable: bool = False) -> None:
    """Write `data` to `path` atomically (a reader never sees half a file), 0600 throughout.
    `durable`: the file and its name flushed to the disk before this returns, so that they
    survive the host losing power too (a kept callback, `payments/spool.py`)."""
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    with os.fdopen(fd, "wb") as file:
        file.write(data)
        if durable:
            file.flush()
            os.fsync(file.fileno())
    os.chmod(partial, PRIVATE_FILE)  # an older partial may have been made with another mode
    os.replace(partial, path)
    if durable:
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
