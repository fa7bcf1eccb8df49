"""PostgreSQL LISTEN/NOTIFY as the broker: several workers without Redis, on the database the
deploy already runs.

One asyncpg connection per process LISTENs on a single PostgreSQL channel; every status
message travels on it as `<channel>\\n<message>` and is handed on only for the order
channels this process holds (DESIGN rule 4: the connection count does not grow with waiters).
One PostgreSQL channel rather than one per order because a backend's LISTEN list is searched
linearly for each notification: thousands of held orders would make every NOTIFY slower.
Subscribing is then local and needs no round trip.

Publishing is `pg_notify` on that same connection (one statement at a time, under a lock),
after the change committed (rule 1). Messages published while a NOTIFY is on the wire wait
for the lock together and go in the next one statement: under load a callback's NOTIFY
shares its round trip with others' instead of queueing behind them one by one. When the
connection drops, a task reconnects with capped, jittered backoff and tells the listener to
resync: notifications sent meanwhile are gone, and the store is the truth.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from typing import Any

import asyncpg

from server.broker.base import Broker, BrokerListener, BrokerUnavailable, PostgresConnect

log = logging.getLogger("server.broker")

# The one PostgreSQL channel every process listens on.
NOTIFY_CHANNEL = "payment_status"
# PostgreSQL refuses a payload of 8000 bytes or more; a status document is far smaller.
MAX_PAYLOAD_BYTES = 7999
# How often an idle listening connection is checked: a half-open one would otherwise only
# be noticed at the next publish.
KEEPALIVE_SECONDS = 10.0
CALL_TIMEOUT = 5.0
# Every message of a batch in one statement, in the order they were published (a transaction's
# notifications are delivered in the order sent).
NOTIFY_ALL = "SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload"


class _Batch:
    """Messages waiting for the lock together; whoever takes the lock first sends them all."""

    __slots__ = ("failure", "payloads")

    def __init__(self) -> None:
        self.payloads: list[str] = []
        self.failure: str | None = None  # why the batch did not go, told to each of its callers


class PostgresBroker(Broker):
    kind = "postgres"

    def __init__(
        self,
        connect_kwargs: PostgresConnect,
        *,
        reconnect_min: float = 0.1,
        reconnect_max: float = 5.0,
    ) -> None:
        self._connect_kwargs = connect_kwargs.copy()
        self._reconnect_min = reconnect_min
        self._reconnect_max = reconnect_max
        self._listener: BrokerListener | None = None
        self._channels: set[str] = set()
        self._connection: Any = None
        self._lock = asyncio.Lock()
        self._waiting: _Batch | None = None
        self._lost = asyncio.Event()
        self._up = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._reconnects = 0

    @property
    def reconnects(self) -> int:
        return self._reconnects

    @property
    def connected(self) -> bool:
        return self._connection is not None and not self._connection.is_closed()

    async def connect(self, listener: BrokerListener) -> None:
        self._listener = listener
        self._task = asyncio.create_task(self._keep_listening(), name="postgres-broker")
        # The first connection is waited for briefly, as the Redis broker's is; a database
        # that does not answer leaves the broker degraded, and the task keeps trying.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CALL_TIMEOUT):
                await self._up.wait()

    async def disconnect(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        await self._close()
        self._listener = None
        self._channels.clear()

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)

    async def publish(self, channel: str, message: str, *, latest: str | None = None) -> None:
        # `latest` is not kept: API.md's latest-status key is Redis's; here the store has it.
        payload = f"{channel}\n{message}"
        if len(payload.encode("utf-8")) > MAX_PAYLOAD_BYTES:
            raise BrokerUnavailable(f"a message of {len(payload)} characters is over NOTIFY's limit")
        if "\x00" in payload:
            # PostgreSQL's text has no NUL: refused here, not by the server for the whole batch.
            raise BrokerUnavailable("a message with a NUL character cannot travel by NOTIFY")
        connection = self._connection
        if connection is None or connection.is_closed():
            raise BrokerUnavailable("the PostgreSQL broker's connection is down")
        batch = self._waiting
        if batch is None:
            batch = self._waiting = _Batch()
        batch.payloads.append(payload)
        async with self._lock:
            if self._waiting is batch:
                # Nobody sent this batch while it waited: this caller sends it, its own
                # message and every one queued behind the NOTIFY that held the lock.
                self._waiting = None
                await self._send(connection, batch)
        if batch.failure is not None:
            raise BrokerUnavailable(batch.failure)

    async def _send(self, connection: Any, batch: _Batch) -> None:
        try:
            await connection.execute(NOTIFY_ALL, NOTIFY_CHANNEL, batch.payloads, timeout=CALL_TIMEOUT)
        except Exception as exc:
            # Whatever the driver raises (a dropped connection can surface as its internal
            # "another operation is in progress"), the batch did not go and the connection is
            # suspect: the watcher re-opens it and the listener resyncs.
            self._lost.set()
            batch.failure = f"NOTIFY failed: {type(exc).__name__}: {exc}"
        except BaseException:
            # Cancelled on the wire: whether the batch went is unknown to the others.
            batch.failure = "NOTIFY was interrupted"
            raise

    async def ping(self) -> bool:
        connection = self._connection
        if connection is None or connection.is_closed():
            return False
        try:
            async with self._lock, asyncio.timeout(CALL_TIMEOUT):
                await connection.fetchval("SELECT 1")
        except Exception:
            self._lost.set()
            return False
        return True

    # -- the listening connection ---------------------------------------------------------

    def _on_notification(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        channel, sep, message = payload.partition("\n")
        listener = self._listener
        if sep and listener is not None and channel in self._channels:
            listener.deliver(channel, message)

    def _on_terminated(self, _connection: Any) -> None:
        self._lost.set()

    async def _open(self) -> None:
        connection = await asyncpg.connect(**self._connect_kwargs, timeout=CALL_TIMEOUT)
        try:
            await connection.add_listener(NOTIFY_CHANNEL, self._on_notification)
        except BaseException:
            await connection.close()
            raise
        connection.add_termination_listener(self._on_terminated)
        self._connection = connection

    async def _close(self) -> None:
        connection, self._connection = self._connection, None
        self._up.clear()
        if connection is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(CALL_TIMEOUT):
                    await connection.close()
            if not connection.is_closed():
                connection.terminate()

    async def _keep_listening(self) -> None:
        delay = self._reconnect_min
        first = True
        while True:
            try:
                await self._open()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "PostgreSQL broker: cannot listen (%s); retrying in %.1f s", type(exc).__name__, delay
                )
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                delay = min(delay * 2, self._reconnect_max)
                continue
            delay = self._reconnect_min
            self._lost.clear()
            self._up.set()
            if not first:
                self._reconnects += 1
                log.info("PostgreSQL broker: listening again; waiters re-read the store")
            # Whatever was notified while no connection listened is gone: re-read (rule 1).
            if self._listener is not None and (not first or self._channels):
                self._listener.resync()
            first = False
            await self._watch()
            await self._close()

    async def _watch(self) -> None:
        """Return when the connection is lost (its termination, a failed call or keepalive)."""
        # asyncio.timeout here and in `ping`, not wait_for: Python 3.11's wait_for returns
        # normally when its awaitable finishes as `disconnect`'s cancel lands, and this task
        # then kept pinging every 10 s with `disconnect` waiting on it for ever (seen once in
        # the suite, a test's teardown).
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(KEEPALIVE_SECONDS):
                    await self._lost.wait()
                return
            if not await self.ping():
                return
