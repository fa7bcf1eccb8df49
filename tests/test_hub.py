"""The status hub's guarantees, driven directly so the dangerous windows are deterministic."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from server.clock import now_ms
from server.lifecycle import COMPLETED, PROCESSING
from server.services import Services
from server.status.document import StatusUpdate
from server.status.reader import OrderReader
from server.status.waiting import wait_for_change
from server.store.tables import orders
from tests.helpers import move, new_order
from tests.server_harness import until


class GatedReader(OrderReader):
    """Holds `get` at a chosen point until the test opens the gate."""

    def __init__(self, inner: OrderReader, *, hold_after_read: bool) -> None:
        super().__init__(inner.database)
        self.hold_after_read = hold_after_read
        self.reached = asyncio.Event()
        self.gate = asyncio.Event()

    async def get(self, order_id: str) -> StatusUpdate | None:
        if not self.hold_after_read:
            self.reached.set()
            await self.gate.wait()
        found = await super().get(order_id)
        if self.hold_after_read:
            self.reached.set()
            await self.gate.wait()
        return found


@pytest.mark.parametrize("hold_after_read", [False, True], ids=["before-read", "after-stale-read"])
async def test_a_change_between_subscribe_and_read_is_not_lost(
    services: Services, hold_after_read: bool
) -> None:
    order = await new_order(services)
    gated = GatedReader(services.reader, hold_after_read=hold_after_read)
    services.hub.reader = gated
    waiter = asyncio.create_task(wait_for_change(services.hub, order.order_id, since=1, timeout=30))
    await asyncio.wait_for(gated.reached.wait(), 5)
    # The waiter is subscribed and inside its read: commit and publish a change right now.
    services.hub.reader = services.reader
    await move(services, order.order_id, PROCESSING)
    gated.gate.set()
    result = await asyncio.wait_for(waiter, 5)
    assert result is not None and not result.timed_out
    assert result.update.version == 2 and result.update.payment_status == PROCESSING


async def test_a_lost_message_is_delivered_by_the_safety_net(services: Services) -> None:
    order = await new_order(services)
    waiter = asyncio.create_task(wait_for_change(services.hub, order.order_id, since=1, timeout=30))
    await until(lambda: services.hub.watch_count == 1)
    # Committed without publishing: as if the process died between commit and publish.
    await services.database.execute(
        orders.update()
        .where(orders.c.id == order.order_id)
        .values(payment_status=COMPLETED, version=2, updated_ms=now_ms())
    )
    assert not waiter.done()
    await services.hub.check_store(since_ms=now_ms() - 60_000)
    result = await asyncio.wait_for(waiter, 5)
    assert result is not None and result.update.payment_status == COMPLETED


async def test_resync_after_a_broker_gap_wakes_waiters_with_the_stored_status(services: Services) -> None:
    order = await new_order(services)
    waiter = asyncio.create_task(wait_for_change(services.hub, order.order_id, since=1, timeout=30))
    await until(lambda: services.hub.watch_count == 1)
    await services.database.execute(
        sa.update(orders).where(orders.c.id == order.order_id).values(version=2, payment_status=PROCESSING)
    )
    services.hub.resync()  # what the broker calls once its subscription is back
    result = await asyncio.wait_for(waiter, 5)
    assert result is not None and result.update.version == 2


async def test_watches_share_one_subscription_and_release_it(services: Services) -> None:
    order = await new_order(services)
    hub = services.hub
    watches = await asyncio.gather(*(hub.watch(order.order_id) for _ in range(50)))
    assert hub.channel_count == 1 and hub.watch_count == 50
    # Half leave while new ones arrive, all at once: the channel must stay subscribed.
    for watch in watches[:25]:
        watch.close()
    more = await asyncio.gather(*(hub.watch(order.order_id) for _ in range(25)))
    for watch in [*watches[25:], *more]:
        watch.close()
    for watch in watches:
        watch.close()  # closing twice is harmless
    await asyncio.gather(*list(hub._background))
    assert hub.channel_count == 0 and hub.watch_count == 0
    assert hub._subscribed == set() and hub._locks == {}


async def test_leave_and_rejoin_at_the_same_moment_keeps_receiving(services: Services) -> None:
    order = await new_order(services)
    hub = services.hub
    first = await hub.watch(order.order_id)
    first.close()  # schedules the unsubscribe
    second = await hub.watch(order.order_id)  # arrives before that unsubscribe runs
    await asyncio.gather(*list(hub._background))
    assert hub._subscribed == {second.channel}
    waiter = asyncio.create_task(second.next(5))
    # Deliver only through the broker, not the local shortcut, to prove the subscription.
    update = await move_without_local_fan_out(services, order.order_id)
    got = await waiter
    assert got is not None and got.version == update.version
    second.close()


async def move_without_local_fan_out(services: Services, order_id: str) -> StatusUpdate:
    hub = services.hub
    original = hub.fan_out
    calls = 0

    def only_from_broker(update: StatusUpdate) -> int:
        nonlocal calls
        calls += 1
        return 0 if calls == 1 else original(update)

    hub.fan_out = only_from_broker  # type: ignore[method-assign]
    try:
        return await move(services, order_id, PROCESSING)
    finally:
        hub.fan_out = original  # type: ignore[method-assign]


async def test_waiters_are_written_before_the_publisher_goes_on(services: Services) -> None:
    # The held routes write from a task their watch's listener starts. A callback goes on,
    # after publishing, to mark its row and answer PayHero: the customer's page comes first.
    order = await new_order(services)
    watch = await services.hub.watch(order.order_id)
    written: list[int] = []
    writers: list[asyncio.Task[None]] = []

    async def write() -> None:
        while (update := watch.take()) is not None:
            written.append(update.version)

    watch.listener = lambda: writers.append(asyncio.get_running_loop().create_task(write()))
    try:
        await move(services, order.order_id, PROCESSING)
        assert written == [2]
    finally:
        watch.close()
