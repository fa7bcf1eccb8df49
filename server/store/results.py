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
