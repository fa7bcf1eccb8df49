"""The status hub: the one pub/sub core that both SSE streams and `/wait` requests use.

- One broker subscription per order channel, reference-counted by the local watches on it
  (DESIGN rule 4). Subscribing and leaving are reconciled under a per-channel lock, so an
  SSE stream and a `/wait` arriving or leaving together cannot leave the channel wrong.
- A watch is registered before its owner reads the store (rule 2), and carries versions
  (rule 3): an update is handed on only when it is newer than what the watch has.
- The store is the truth (rule 1). One slow task per process, not one per waiter, asks the
  store which orders changed recently and refreshes the watched ones; after a broker
  reconnect every watched order is re-read in batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any, Protocol

from server.broker import Broker, BrokerUnavailable, latest_key, status_channel
from server.broker.base import STATUS_CHANNEL_PREFIX
from server.clock import now_ms
from server.status.bells import Bells, is_bell
from server.status.document import StatusUpdate
from server.status.reader import OrderReader
from server.status.watch import Deadlines, Watch
from server.store import log_failed_pass

__all__ = ["HubUnavailable", "StatusHub", "Watch"]

log = logging.getLogger("server.hub")


class HubUnavailable(Exception):
    """No more waiters now: the process is at its cap or shutting down (503), or this client
    address holds as many as it may (429)."""

    def __init__(self, reason: str, retry_after: int, *, status_code: int = 503) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.status_code = status_code


class SideListener(Protocol):
    """Hears a family of channels other than orders' (the gate's counts) through the hub's
    one broker connection (rule 4)."""

    def deliver(self, channel: str, message: str) -> None: ...

    def resync(self) -> None: ...

    def drain(self) -> None: ...


class StatusHub:
    """Fans status changes out to this process's waiters: one broker subscription per watched
    order, and a safety net that re-reads what changed while a message could be missed."""

    def __init__(
        self,
        broker: Broker,
        reader: OrderReader,
        *,
        safety_net_interval: float = 5.0,
        max_watches: int = 0,
        max_watches_per_order: int = 0,
        max_watches_per_client: int = 0,
        max_watches_per_client_order: int = 0,
        on_fan_out: Callable[[int, int], None] | None = None,
    ) -> None:
        self.broker = broker
        self.reader = reader
        self.safety_net_interval = safety_net_interval
        # 0 means no cap. Past a cap new waiters are refused (503) rather than slowing all.
        self.max_watches = max_watches
        self.max_watches_per_order = max_watches_per_order
        # One address cannot take every slot of the process (issue 15: ghost waiters).
        self.max_watches_per_client = max_watches_per_client
        # Counted first: one client's pile on its own order is refused before it can use up
        # what its address shares with its neighbours behind one NAT (issue 24).
        self.max_watches_per_client_order = max_watches_per_client_order
        self.draining = False
        self._watch_count = 0
        self._per_client: dict[str, int] = {}
        self._per_client_order: dict[tuple[str, str], int] = {}
        # Waiters refused, by which cap refused them: /metrics.
        self.refused = {"total": 0, "order": 0, "client_order": 0, "client": 0}
        self.deadlines = Deadlines()
        # A list per channel, not a set: nearly every order has one or two waiters, and a set
        # costs 216 bytes before its first member (this is paid per waiting customer).
        self._watches: dict[str, list[Watch]] = {}
        self._subscribed: set[str] = set()
        # Channels other than orders': a listener per prefix, holders counted per channel.
        self._side_listeners: dict[str, SideListener] = {}
        self._side_holders: dict[str, int] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._lock_users: defaultdict[str, int] = defaultdict(int)
        self._background: set[asyncio.Task[None]] = set()
        self._safety_net: asyncio.Task[None] | None = None
        self._resync_pending = False
        # Counters read by /metrics and the benchmarks.
        self.published = 0
        self.publish_failures = 0
        self.delivered = 0
        # Told (waiters notified, delay in ms) once per change fanned out: /metrics' histogram.
        self.on_fan_out = on_fan_out
        # The desk's doorbells (`sales:…`, `door:…`) share this hub's broker connection.
        self.bells = Bells(broker, self._reconcile)

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        await self.broker.connect(self)
        self._safety_net = asyncio.create_task(self._run_safety_net(), name="status-safety-net")

    async def stop(self) -> None:
        tasks = [t for t in [self._safety_net, *self._background] if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.bells.stop()
        await self.broker.disconnect()

    # -- watching ----------------------------------------------------------------------

    @property
    def watch_count(self) -> int:
        return self._watch_count

    @property
    def channel_count(self) -> int:
        return len(self._watches)

    async def watch(self, order_id: str, client: str | None = None) -> Watch:
        """Register a watch and return once the broker has the channel: read the store after.

        `client` (the waiter's address, as `client_key` gives it) is counted against
        `max_watches_per_client`; None (internal watches) is not counted.
        """
        if self.draining:
            raise HubUnavailable("the service is restarting", retry_after=1)
        if self.max_watches and self._watch_count >= self.max_watches:
            self.refused["total"] += 1
            raise HubUnavailable("too many waiters on this server", retry_after=5)
        if client is not None and self.max_watches_per_client_order:
            if self._per_client_order.get((client, order_id), 0) >= self.max_watches_per_client_order:
                self.refused["client_order"] += 1
                raise HubUnavailable(
                    "too many waiters on this order from your address", retry_after=5, status_code=429
                )
        if client is not None and self.max_watches_per_client:
            if self._per_client.get(client, 0) >= self.max_watches_per_client:
                self.refused["client"] += 1
                raise HubUnavailable("too many waiters from your address", retry_after=5, status_code=429)
        watch = Watch(self, order_id, client)
        watches = self._watches.get(watch.channel)
        if watches is None:
            watches = self._watches[watch.channel] = []
        if self.max_watches_per_order and len(watches) >= self.max_watches_per_order:
            if not watches:
                del self._watches[watch.channel]
            self.refused["order"] += 1
            raise HubUnavailable("too many waiters on this order", retry_after=5)
        watches.append(watch)
        self._watch_count += 1
        if client is not None:
            self._per_client[client] = self._per_client.get(client, 0) + 1
            pair = (client, order_id)
            self._per_client_order[pair] = self._per_client_order.get(pair, 0) + 1
        if watch.channel not in self._subscribed:
            try:
                await self._reconcile(watch.channel)
            except BaseException as exc:
                # Every way out closes the watch, or the waiters gauge never returns to 0.
                watch.close()
                if isinstance(exc, BrokerUnavailable):
                    raise HubUnavailable("the broker is unavailable", retry_after=1) from exc
                raise
        return watch

    # -- channels other than orders' ---------------------------------------------------

    def attach(self, prefix: str, listener: SideListener) -> None:
        """Hand every message on a channel starting with `prefix` to `listener`."""
        self._side_listeners[prefix] = listener

    async def hold(self, channel: str) -> None:
        """Keep `channel` subscribed until `release`; returns once the broker has it, so the
        holder may read the store after (rule 2). Counted, like order watches."""
        if self.draining:
            raise HubUnavailable("the service is restarting", retry_after=1)
        self._side_holders[channel] = self._side_holders.get(channel, 0) + 1
        if channel not in self._subscribed:
            try:
                await self._reconcile(channel)
            except BaseException as exc:
                self.release(channel)
                if isinstance(exc, BrokerUnavailable):
                    raise HubUnavailable("the broker is unavailable", retry_after=1) from exc
                raise

    def release(self, channel: str) -> None:
        left = self._side_holders.get(channel, 1) - 1
        if left > 0:
            self._side_holders[channel] = left
            return
        self._side_holders.pop(channel, None)
        self._spawn(self._reconcile(channel))

    async def publish_side(self, channel: str, message: str) -> bool:
        """Publish on a channel other than an order's; False (logged) when the broker is
        down: what was committed stays the truth, and holders re-read on resync."""
        try:
            await self.broker.publish(channel, message)
        except BrokerUnavailable as exc:
            self.publish_failures += 1
            log.warning("publish failed on %s: %s", channel, exc)
            return False
        self.published += 1
        return True

    def _leave(self, watch: Watch) -> None:
        watches = self._watches.get(watch.channel)
        if watches is None:
            return
        if watch in watches:
            watches.remove(watch)
            self._watch_count -= 1
            if watch.client is not None:
                left = self._per_client.get(watch.client, 1) - 1
                if left > 0:
                    self._per_client[watch.client] = left
                else:
                    self._per_client.pop(watch.client, None)
                pair = (watch.client, watch.order_id)
                left = self._per_client_order.get(pair, 1) - 1
                if left > 0:
                    self._per_client_order[pair] = left
                else:
                    self._per_client_order.pop(pair, None)
        if not watches:
            del self._watches[watch.channel]
            # Not awaited: a waiter leaving (often cancelled) must not wait on the broker.
            self._spawn(self._reconcile(watch.channel))

    async def _reconcile(self, channel: str) -> None:
        """Make the broker's subscription match whether any local watch wants `channel`."""
        lock = self._locks.get(channel)
        if lock is None:
            lock = self._locks[channel] = asyncio.Lock()
        self._lock_users[channel] += 1
        try:
            async with lock:
                wanted = (
                    channel in self._watches or self.bells.wanted(channel) or channel in self._side_holders
                )
                if wanted and channel not in self._subscribed:
                    await self.broker.subscribe(channel)
                    self._subscribed.add(channel)
                elif not wanted and channel in self._subscribed:
                    self._subscribed.discard(channel)
                    await self.broker.unsubscribe(channel)
        finally:
            self._lock_users[channel] -= 1
            if self._lock_users[channel] == 0:
                del self._lock_users[channel]
                del self._locks[channel]

    def drain(self) -> int:
        """End every wait now and refuse new ones: held requests answer, streams close."""
        self.draining = True
        self.bells.ring_all()  # the desk's streams wake, see `draining` and end
        ended = 0
        for watches in list(self._watches.values()):
            for watch in list(watches):
                watch.end()
                ended += 1
        for listener in self._side_listeners.values():
            listener.drain()
        log.info("draining: ended %d wait(s)", ended)
        return ended

    # -- publishing and fan-out --------------------------------------------------------

    async def publish(self, update: StatusUpdate) -> None:
        """Announce a committed change: local watches at once, then the broker.

        A broker failure is logged, not raised: the change is already committed and the
        safety net will deliver it (DESIGN rule 1).
        """
        if self.fan_out(update):
            # One loop turn for the waiters' writers (tasks: server/routes/) before the
            # caller goes on. Without it, when nothing below waits on the network (the
            # in-process broker) and the store runs on the loop (SQLite), a payment's
            # waiters were written only after its whole callback was answered and logged.
            await asyncio.sleep(0)
        try:
            await self.broker.publish(
                status_channel(update.order_id), update.json, latest=latest_key(update.order_id)
            )
            self.published += 1
        except BrokerUnavailable as exc:
            self.publish_failures += 1
            log.warning(
                "publish failed order=%s version=%d: %s; waiters elsewhere rely on the safety net",
                update.order_id,
                update.version,
                exc,
            )

    def fan_out(self, update: StatusUpdate) -> int:
        watches = self._watches.get(status_channel(update.order_id))
        if not watches:
            return 0
        notified = sum(1 for watch in list(watches) if watch.push(update))
        if notified:
            self.delivered += notified
            delay_ms = max(0, now_ms() - _updated_ms(update))
            if self.on_fan_out is not None:
                self.on_fan_out(notified, delay_ms)
            log.info(
                "waiters notified order=%s status=%s version=%d count=%d delay_ms=%d",
                update.order_id,
                update.payment_status,
                update.version,
                notified,
                delay_ms,
            )
        return notified

    # BrokerListener
    def deliver(self, channel: str, message: str) -> None:
        if is_bell(channel):
            self.bells.deliver(channel)
        elif not channel.startswith(STATUS_CHANNEL_PREFIX):
            for prefix, listener in self._side_listeners.items():
                if channel.startswith(prefix):
                    listener.deliver(channel, message)
            return
        watches = self._watches.get(channel)
        if not watches:
            return
        try:
            update = StatusUpdate.from_json(message)
        except ValueError:
            log.warning("ignored a malformed message on %s", channel)
            return
        if channel != STATUS_CHANNEL_PREFIX + update.order_id:
            log.warning("ignored a message for %s on %s", update.order_id, channel)
            return
        self.fan_out(update)

    # BrokerListener
    def resync(self) -> None:
        self.bells.ring_all()
        if not self._resync_pending:
            self._resync_pending = True
            self._spawn(self._resync_all())
        for listener in self._side_listeners.values():
            listener.resync()

    async def _resync_all(self) -> None:
        self._resync_pending = False
        order_ids = [channel.removeprefix(STATUS_CHANNEL_PREFIX) for channel in self._watches]
        if order_ids:
            await self.refresh(order_ids)

    async def refresh(self, order_ids: list[str]) -> int:
        """Re-read these orders from the store and hand newer versions to their watches."""
        notified = 0
        for update in await self.reader.get_many(order_ids):
            notified += self.fan_out(update)
        return notified

    async def _run_safety_net(self) -> None:
        # Overlap the windows generously: a change's timestamp is taken before its commit,
        # and other hosts' clocks may differ a little. Versions make re-reads harmless.
        margin_ms = int(max(2 * self.safety_net_interval, 10.0) * 1000)
        last_ms = now_ms()
        while True:
            await asyncio.sleep(self.safety_net_interval)
            started_ms = now_ms()
            try:
                await self.check_store(since_ms=last_ms - margin_ms)
                last_ms = started_ms
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log_failed_pass(log, "safety-net read", f"in {self.safety_net_interval:.1f}s", exc)

    async def check_store(self, *, since_ms: int) -> int:
        """One safety-net pass: refresh watched orders the store has newer versions of."""
        if not self._watches:
            return 0
        changed = await self.reader.versions_changed_since(since_ms)
        stale = [
            order_id
            for order_id, version in changed.items()
            if any(w.version < version for w in self._watches.get(status_channel(order_id), ()))
        ]
        if not stale:
            return 0
        started = time.perf_counter()
        notified = await self.refresh(stale)
        if notified:
            log.info(
                "safety net delivered %d missed change(s) to %d waiter(s) in %.1f ms",
                len(stale),
                notified,
                (time.perf_counter() - started) * 1000,
            )
        return notified

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


def _updated_ms(update: StatusUpdate) -> int:
    stamp = str(update.document.get("updated_at", ""))
    try:
        return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return now_ms()
