"""What a query hands back: the driver's own row, read in C.

An asyncpg `Record` on PostgreSQL, a `sqlite3.Row` on SQLite. Both are read by column name
or position (`row["id"]`, `row[0]`), give their `keys()`, iterate over their values and
turn into a dict with `dict(row)`. Neither is a full `Mapping` (a `sqlite3.Row` has no
`get`, `items` or name test with `in`), so code outside the store reads a row only in
those ways, and turns it into a typed row (rows.py) or a dict at once.

`databases` wrapped each row in a record whose every column read was a Python call with a
dictionary lookup or two: 25 calls for an order on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator, KeysView, Sequence
from typing import Any, Protocol


class ResultRow(Protocol):
    def __getitem__(self, key: str | int, /) -> Any: ...

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[Any]: ...

    def keys(self) -> KeysView[str] | Sequence[str] | Iterator[str]: ...


class LaterColumn:
    """The values of a statement's one RETURNING column, read once the statement is sent.

    What `Database.fetch_column_later` hands back: on PostgreSQL inside a transaction the
    statement waits, with the other kept statements, for the session's next statement or
    `Database.send_kept()`, and all of them go in one round trip; elsewhere it runs at once.
    """

    __slots__ = ("_values",)

    def __init__(self) -> None:
        self._values: list[Any] | None = None

    @classmethod
    def of_rows(cls, rows: Sequence[ResultRow]) -> LaterColumn:
        """One already read: the first column of `rows`."""
        later = cls()
        later.fill([row[0] for row in rows])
        return later

    def fill(self, values: list[Any]) -> None:
        self._values = values

    @property
    def values(self) -> list[Any]:
        """The column's values, one per row returned (none where the statement matched none)."""
        if self._values is None:
            raise RuntimeError("a kept statement's values were read before it was sent")
        return self._values

    @property
    def first(self) -> Any:
        """The first row's value, or None where no row came back."""
        values = self.values
        return values[0] if values else None
