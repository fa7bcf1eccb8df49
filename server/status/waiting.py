"""What the two waiting routes do, on top of the hub: long poll and event stream.

Both open a watch before they read the store (DESIGN rule 2) and speak in versions
(rule 3). Neither reads the store more than once; later news comes from the hub.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from server.status.document import StatusUpdate
from server.status.hub import HubUnavailable, StatusHub
from server.status.watch import Watch


@dataclass(frozen=True)
class WaitResult:
    update: StatusUpdate
    timed_out: bool


async def watch_and_read(
    hub: StatusHub, order_id: str, client: str | None = None
) -> tuple[Watch, StatusUpdate] | None:
    """A live watch and the order's current status, read after subscribing (rule 2).

    None for an unknown order; the watch is closed on every way out but success.
    """
    watch = await hub.watch(order_id, client)
    try:
        current = await hub.reader.get(order_id)
    except BaseException:
        watch.close()
        raise
    if current is None:
        watch.close()
        return None
    watch.seed(current)
    return watch, current


def answer_at_once(current: StatusUpdate, since: int | None) -> WaitResult | None:
    """The long poll's answer without waiting, if it has one (API.md).

    Without `since`, a terminal order answers at once and any other waits for its next change.
    """
    if since is None:
        return WaitResult(current, False) if current.terminal else None
    return WaitResult(current, False) if current.version > since else None


async def watch_unless_answered(
    hub: StatusHub, order_id: str, client: str | None, since: int | None
) -> tuple[Watch, StatusUpdate] | WaitResult | None:
    """`watch_and_read`, except that a long poll refused by a waiter cap is still answered
    when it can be at once (issue 24): the answer needs no watch, so no cap has a reason to
    refuse it. Re-raises the refusal for one that would have to wait."""
    try:
        return await watch_and_read(hub, order_id, client)
    except HubUnavailable:
        current = await hub.reader.get(order_id)
        if current is None:
            return None
        result = answer_at_once(current, since)
        if result is None:
            raise
        return result


async def wait_for_change(
    hub: StatusHub, order_id: str, *, since: int | None, timeout: float
) -> WaitResult | None:
    """The order's status once it is newer than `since`, or at `timeout`; None if unknown.

    The awaitable form, for code that has a task to spare; the `/wait` route holds a
    `HeldWait` instead, which needs none.
    """
    opened = await watch_and_read(hub, order_id)
    if opened is None:
        return None
    watch, current = opened
    try:
        result = answer_at_once(current, since)
        if result is not None:
            return result
        since = current.version if since is None else since
        deadline = time.monotonic() + timeout
        latest = current
        while True:
            update = await watch.wait(max(0.0, deadline - time.monotonic()))
            if update is None:
                return WaitResult(latest, True)
            latest = update
            if update.version > since:
                return WaitResult(latest, False)
    finally:
        watch.close()


class HeldWait:
    """A long poll held without a task or a frame waiting on the watch.

    The request's own coroutine waits on ASGI `receive()` instead, so a client that leaves
    is noticed at once (`release`); the watch's listener (news, or the server draining)
    and the hub's shared deadline wheel (`expire`) call `answer`, once. Before this, a
    `/wait` whose client had reset kept its watch, and its slot under the waiter caps, for
    the whole hold (issue 15).
    """

    __slots__ = ("_done", "_slot", "hub", "latest", "since", "watch")

    def __init__(self, hub: StatusHub, watch: Watch, latest: StatusUpdate, since: int | None) -> None:
        self.hub = hub
        self.watch = watch
        self.latest = latest
        self.since = latest.version if since is None else since
        self._slot: int | None = None
        self._done = False

    def hold(self, timeout: float) -> None:
        self.watch.listener = self._on_news
        self._slot = self.hub.deadlines.add(self, timeout)
        self._on_news()  # news queued on the watch between the store read and now

    def _on_news(self) -> None:
        while (update := self.watch.take()) is not None:
            self.latest = update
            if update.version > self.since:
                self._finish(WaitResult(update, False))
                return
        if self.watch.ended:  # the server is draining: the current status, now
            self._finish(WaitResult(self.latest, True))

    def expire(self) -> None:
        self._slot = None
        self._finish(WaitResult(self.latest, True))

    def _finish(self, result: WaitResult) -> None:
        if self.release():
            self.answer(result)

    def release(self) -> bool:
        """Stop waiting: leave the watch and the deadline wheel. False if already done."""
        if self._done:
            return False
        self._done = True
        if self._slot is not None:
            self.hub.deadlines.discard(self._slot, self)
            self._slot = None
        self.watch.close()
        return True

    def answer(self, result: WaitResult) -> None:
        """Called once, from a callback, with the wait's outcome: subclasses send it."""
        raise NotImplementedError


@dataclass
class Stream:
    """An opened status stream: the current status is known, the watch is live."""

    watch: Watch
    current: StatusUpdate
    last_event_id: int | None
    # Seconds before the server ends the stream; the client reconnects with Last-Event-ID.
    max_lifetime: float | None = None

    @property
    def finished(self) -> bool:
        """The client already has the terminal status: nothing will ever be sent."""
        return (
            self.current.terminal
            and self.last_event_id is not None
            and self.last_event_id >= self.current.version
        )

    def close(self) -> None:
        self.watch.close()


async def open_stream(
    hub: StatusHub,
    order_id: str,
    *,
    last_event_id: int | None,
    max_lifetime: float | None = None,
    client: str | None = None,
) -> Stream | None:
    """An SSE stream of an order's status from `last_event_id` on, or None for an unknown order."""
    opened = await watch_and_read(hub, order_id, client)
    if opened is None:
        return None
    watch, current = opened
    return Stream(watch, current, last_event_id, max_lifetime)
