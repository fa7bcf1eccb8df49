"""The hub's channels other than orders' (the gate's counts): counted holders share one
subscription, messages reach the listener of their prefix only, and a drain ends them."""

from __future__ import annotations

import asyncio

from server.services import Services
from server.status.admitted import AdmittedCount


async def test_holders_share_one_subscription_and_a_count_reaches_its_watches(services: Services) -> None:
    hub, counts = services.hub, services.admitted
    channel = counts.channel("demo-fest")
    watches = await asyncio.gather(*(counts.watch("demo-fest") for _ in range(5)))
    assert channel in hub._subscribed and hub._side_holders[channel] == 5

    # A count from the broker, as another process publishes it: every watch has it.
    other = AdmittedCount("demo-fest", admitted=3, tickets=10, types=(), counted_ms=0)
    hub.deliver(channel, other.json())
    for watch in watches:
        assert (await watch.next(timeout=5)) == counts.latest("demo-fest")
    # An older count arriving late changes nothing; a malformed one, or one on another
    # event's channel, is ignored.
    hub.deliver(channel, AdmittedCount("demo-fest", 2, 10, (), 0).json())
    hub.deliver(channel, "not json")
    hub.deliver(counts.channel("other"), AdmittedCount("demo-fest", 9, 10, (), 0).json())
    latest = counts.latest("demo-fest")
    assert latest is not None and latest.admitted == 3
    assert await watches[0].next(timeout=0.01) is None

    for watch in watches:
        watch.close()
        watch.close()  # closing twice is harmless
    await asyncio.gather(*list(hub._background))
    assert channel not in hub._subscribed and channel not in hub._side_holders


async def test_a_drain_ends_count_watches(services: Services) -> None:
    watch = await services.admitted.watch("demo-fest")
    services.hub.drain()
    assert await watch.next(timeout=5) is None and watch.ended
    watch.close()
