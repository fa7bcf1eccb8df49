"""uvicorn's httptools protocol without the empty deques a held connection carries.

A held `/wait` or event stream keeps its connection's objects for minutes, and this
service holds thousands. bench.memory_profile found three `collections.deque`s per
connection that stay empty for all that time: the waiter queues of two `asyncio.Event`s
(the request cycle's `message_event`, the flow control's "writable" event) and the queue
of HTTP/1.1 pipelined requests. An empty deque is 760 bytes (it allocates a block of 64
slots up front); an empty list is 56 and a tuple nothing. So 2.2 KB of a held connection's
~12 KB were empty queues.

- An Event's waiter queue becomes a list: `asyncio.Event` only appends to it, removes from
  it and iterates it (its `wait`, `set`), which a list does as well; at most one
  coroutine ever waits on these two (the request's own). Left as it is if asyncio ever
  changes the attribute (`lean_event`).
- The pipeline is made only when a request is pipelined behind one still being answered;
  uvicorn otherwise only asks whether it is empty (`if self.pipeline`).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING, Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

if TYPE_CHECKING:
    _Protocol = HttpToolsProtocol
else:
    _Protocol = object

_NO_PIPELINE: tuple[()] = ()


def lean_event(event: asyncio.Event) -> asyncio.Event:
    """`event`, its empty waiter deque swapped for a list (see the module)."""
    waiters = vars(event).get("_waiters")
    if isinstance(waiters, deque) and not waiters:
        vars(event)["_waiters"] = []
    return event


class LeanConnection(_Protocol):
    """Mixin for `HttpToolsProtocol`: the concrete class gives `_pipeline` a slot."""

    __slots__ = ()
    _pipeline: deque[Any] | None

    @property  # type: ignore[override]
    def pipeline(self) -> deque[Any] | tuple[()]:
        return self._pipeline if self._pipeline is not None else _NO_PIPELINE

    @pipeline.setter
    def pipeline(self, queue: deque[Any]) -> None:
        # uvicorn's __init__ assigns an empty deque: not kept.
        self._pipeline = queue if queue else None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        lean_event(self.flow._is_writable_event)

    def on_headers_complete(self) -> None:
        before = self.cycle
        if before is not None and not before.response_complete and self._pipeline is None:
            self._pipeline = deque()  # this request waits behind the one being answered
        super().on_headers_complete()
        if self.cycle is not before:
            lean_event(self.cycle.message_event)
