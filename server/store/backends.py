"""The contract a store backend keeps: as small as encode/broadcaster's.

A backend opens and closes its connections, lends one to a task as a `Session` (which runs
that task's statements, one at a time, and begins its transactions), and runs a statement
outside any session on a connection it borrows for that statement alone. Statements come
built (sessions.py); rows go back as the driver's own (results.py). Each backend translates
its driver's errors into the store's own (failures.py) before they leave it.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from sqlalchemy.sql import ClauseElement

from server.store.results import LaterColumn, ResultRow


class TransactionHandle(Protocol):
    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...


class Session(Protocol):
    """One task's connection, for as long as the task holds it."""

    # The task that holds it.
    task: asyncio.Task[Any] | None

    async def fetch_all(self, query: ClauseElement) -> list[ResultRow]: ...

    async def fetch_one(self, query: ClauseElement) -> ResultRow | None: ...

    async def execute(self, query: ClauseElement) -> Any: ...

    async def execute_later(self, query: ClauseElement) -> None:
        """A write whose result is not read: at once, or, inside a transaction, carried by
        the session's next statement (sessions.py, `Database.execute_later`)."""
        ...

    async def fetch_column_later(self, query: ClauseElement) -> LaterColumn:
        """A statement whose one column is read after `send_kept` (sessions.py,
        `Database.fetch_column_later`): at once, or kept as `execute_later` keeps a write."""
        ...

    async def send_kept(self) -> None:
        """Send the statements kept for later, if any, and fill their columns."""
        ...

    async def begin(self) -> TransactionHandle:
        """BEGIN when the session is in no transaction; a savepoint inside one."""
        ...


class Backend(Protocol):
    dialect_name: str  # "sqlite" or "postgresql"

    async def connect(self) -> None: ...

    async def disconnect(self) -> None: ...

    async def open_session(self) -> Session:
        """A connection for the running task (it becomes the session's `task`)."""
        ...

    async def close_session(self, session: Session) -> None: ...

    async def fetch_all(self, query: ClauseElement) -> list[ResultRow]: ...

    async def fetch_one(self, query: ClauseElement) -> ResultRow | None: ...

    async def execute(self, query: ClauseElement) -> Any: ...
