"""`async with database.transaction()`, with the task's connection found once.

`databases`' `Transaction` looks its connection up again at each step (start, commit, the
connection's entry and exit: the running task found and the task map read each time), and
keeps its backend transaction in a context variable holding a `WeakKeyDictionary` that it
copies on every start and end. A transaction object is made for each `async with`, so this
one keeps both on itself: the connection found at the start is the one it ends on, as in
`databases` (a connection belongs to its task until the task leaves it).

Two differences, both for the better: a transaction that fails to start, or whose COMMIT or
ROLLBACK raises, still leaves the task's connection, where `databases` left it held, its
pool connection never returned (`databases` skips `Connection.__aexit__` when the backend
raises). Used only where `databases` itself keeps one connection per task; with its single
global connection (`force_rollback`, which the service never uses) `databases`' own
`Transaction` runs instead (held_connection.py).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from databases.core import Connection, Transaction
from databases.interfaces import TransactionBackend

Result = TypeVar("Result")


class HeldTransaction(Transaction):
    def __init__(
        self, find_connection: Callable[[], Connection], force_rollback: bool, options: dict[str, object]
    ) -> None:
        # `databases`' `_connection` and `_transaction` are properties of the base class that
        # look up again; this one keeps its own, under names of its own.
        self._find_connection = find_connection
        self._force_rollback = force_rollback
        self._extra_options = options
        self._held: Connection | None = None
        self._backend_transaction: TransactionBackend | None = None

    # `async with`, `await` and the rollback under `force_rollback` are the base class's own:
    # they call `start`, `commit` and `rollback` below.

    def __call__(self, func: Callable[..., Awaitable[Result]]) -> Callable[..., Awaitable[Result]]:  # type: ignore[override]
        """As a decorator: a transaction of its own for each call, as calls may overlap."""

        @functools.wraps(func)
        async def in_transaction(*args: Any, **kwargs: Any) -> Result:
            async with HeldTransaction(self._find_connection, self._force_rollback, self._extra_options):
                return await func(*args, **kwargs)

        return in_transaction

    async def start(self) -> HeldTransaction:
        connection = self._find_connection()
        is_root = not connection._transaction_stack
        await connection.__aenter__()
        try:
            backend = connection._connection.transaction()
            await backend.start(is_root=is_root, extra_options=self._extra_options)
        except BaseException:
            await connection.__aexit__()
            raise
        connection._transaction_stack.append(self)
        self._held, self._backend_transaction = connection, backend
        return self

    async def commit(self) -> None:
        await self._end(commit=True)

    async def rollback(self) -> None:
        await self._end(commit=False)

    async def _end(self, *, commit: bool) -> None:
        connection, backend = self._held, self._backend_transaction
        assert connection is not None and backend is not None, "the transaction was not started"
        assert connection._transaction_stack[-1] is self
        connection._transaction_stack.pop()
        self._held = self._backend_transaction = None
        try:
            await (backend.commit() if commit else backend.rollback())
        finally:
            await connection.__aexit__()
