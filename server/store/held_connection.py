"""Statements run straight on the connection the task already holds.

`databases` runs every statement through its `Connection`'s context (a lock, a counter,
the task → connection map read again) and then a per-connection query lock, even when the
task is inside `async with database.connection()` or a transaction and so already holds
that connection. A paid callback runs about a dozen statements that way: counted with
cProfile, `databases` and the weakref and asyncio calls it makes are a fifth of the
callback's Python calls, and going round them here saves 5-7% of a callback's instructions
on both stores (docs/BENCHMARKS.md, "Instructions per callback").

Here, a statement whose task already holds its connection goes to the backend connection
directly, and `transaction()` finds that connection once (held_transaction.py). Nothing is
skipped that could matter: a connection belongs to one task (the map is keyed by task; none
is shared, since the service never uses `force_rollback`'s global connection, and the
shortcut is off if it does), one task runs one statement at a time, so its query lock is
never contended; and a held connection stays held until the block that took it ends, after
this statement. Any other statement goes `databases`' own way.
"""

from __future__ import annotations

import asyncio
from typing import Any

from databases import Database
from databases.core import Connection, Transaction
from sqlalchemy.sql import ClauseElement

from server.store.held_transaction import HeldTransaction


class HeldConnectionDatabase(Database):
    def connection(self) -> Connection:
        """`databases`' own, reading the task's entry once where it read it twice (each read
        a task lookup and a weak reference made): about 20 calls per callback."""
        if self._global_connection is not None:
            return self._global_connection
        task = _running_task()
        connection: Connection | None = self._connection_map.get(task)
        if connection is None:
            # What `databases`' `_connection` setter does, without finding the task again.
            connection = self._connection_map[task] = Connection(self, self._backend)
        return connection

    def transaction(self, *, force_rollback: bool = False, **kwargs: Any) -> Transaction:
        """A transaction that finds the task's connection once (held_transaction.py)."""
        if self._global_connection is not None:
            return super().transaction(force_rollback=force_rollback, **kwargs)
        return HeldTransaction(self.connection, force_rollback, kwargs)

    def _held(self, query: ClauseElement | str, values: dict[str, object] | None) -> Connection | None:
        """The task's connection if it already holds it and the statement needs no building."""
        if values is not None or isinstance(query, str) or self._global_connection is not None:
            return None
        connection: Connection | None = self._connection_map.get(_running_task())
        if connection is None or connection._connection_counter == 0:
            return None
        return connection

    async def fetch_all(
        self, query: ClauseElement | str, values: dict[str, object] | None = None
    ) -> list[Any]:
        held = self._held(query, values)
        if held is None:
            return await super().fetch_all(query, values)
        return await held._connection.fetch_all(query)  # type: ignore[arg-type]

    async def fetch_one(self, query: ClauseElement | str, values: dict[str, object] | None = None) -> Any:
        held = self._held(query, values)
        if held is None:
            return await super().fetch_one(query, values)
        return await held._connection.fetch_one(query)  # type: ignore[arg-type]

    async def fetch_val(
        self, query: ClauseElement | str, values: dict[str, object] | None = None, column: Any = 0
    ) -> Any:
        held = self._held(query, values)
        if held is None:
            return await super().fetch_val(query, values, column=column)
        return await held._connection.fetch_val(query, column)  # type: ignore[arg-type]

    async def execute(self, query: ClauseElement | str, values: dict[str, object] | None = None) -> Any:
        held = self._held(query, values)
        if held is None:
            return await super().execute(query, values)
        return await held._connection.execute(query)  # type: ignore[arg-type]


def _running_task() -> asyncio.Task[Any]:
    """`databases`' `Database._current_task`, as a plain function: its property is one
    more Python call on every statement."""
    task = asyncio.current_task()
    if task is None:  # as `databases` says it
        raise RuntimeError("No currently active asyncio.Task found")
    return task
