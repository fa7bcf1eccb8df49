"""Completing held orders through the callback route and checking each waiter heard of it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from bench.orders import Order, Tally, send_callbacks
from bench.report import summary_ms
from bench.waiters import FirstChanges, Waiter, errors


@dataclass
class Delivery:
    chosen: list[Waiter]
    received: dict[str, float]
    callbacks: Tally
    sent: dict[str, float] = field(default_factory=dict)

    def latencies(self, kind: str | None = None) -> list[float]:
        """Seconds from a callback sent to its status received, for waiters of `kind` (or all)."""
        return [
            self.received[w.order.order_id] - self.sent[w.order.order_id]
            for w in self.chosen
            if (kind is None or w.kind == kind) and w.order.order_id in self.received
        ]

    @property
    def per_second(self) -> float:
        """Deliveries a second, from the first message sent until the last one heard."""
        heard = [self.received[o] for o in self.sent if o in self.received]
        if not heard:
            return 0.0
        seconds = max(heard) - min(self.sent.values())
        return len(heard) / seconds if seconds > 0 else 0.0

    @property
    def missing(self) -> list[str]:
        return [w.order.order_id for w in self.chosen if w.order.order_id not in self.received]

    def summary(self, waiters: Iterable[Waiter], log_errors: list[str]) -> dict[str, Any]:
        """What every delivering scenario reports; an error is anything that went wrong."""
        failed = errors(waiters)
        missing = self.missing
        seconds = self.callbacks.seconds
        return {
            "completed": len(self.chosen),
            "delivered": len(self.chosen) - len(missing),
            "missing": missing[:10],
            "errors": sum(failed.values()) + len(self.callbacks.failures) + len(missing) + len(log_errors),
            "error_kinds": dict(failed),
            "callback_failures": self.callbacks.failures[:10],
            "log_errors": log_errors[:10],
            "callbacks_per_second": len(self.chosen) / seconds if seconds else 0.0,
            "latency_ms": summary_ms(self.latencies()),
            "callback_answer_ms": summary_ms(self.callbacks.latencies),
        }


async def complete(port: int, chosen: list[Waiter], heard: FirstChanges, *, connections: int) -> Delivery:
    """Pay every chosen order through the callback route on `port`; wait until each is heard."""
    sent: dict[str, float] = {}
    callbacks = await send_callbacks(port, [w.order for w in chosen], connections=connections, sent_at=sent)
    # A waiter is finished once it has the terminal status (or has failed).
    await asyncio.wait([w.finished for w in chosen if w.finished is not None], timeout=60)
    return Delivery(chosen, heard.at, callbacks, sent)


# How long a bare publish may go unheard before the next one is sent anyway.
HEARD_TIMEOUT = 2.0


async def publish_each(
    publish: Callable[[Order], Awaitable[None]],
    chosen: list[Waiter],
    heard: FirstChanges,
    *,
    paced: bool = True,
) -> Delivery:
    """`publish` each chosen order's news, the next once the last was heard; wait for all.

    A bare publish: no callback, no store, only the message, for servers that have
    nothing else (bench.compare's peers) and for this service's part after the commit.
    Paced by its waiter, not by the publish's acknowledgement: Redis acknowledges a
    PUBLISH before the subscribing process has read it, so 1,000 sent back to back
    (about 6,000/s from this client) queued in front of a service that delivers about
    3,000/s, and each figure measured its place in that queue (p50 54 ms at 10,000 held)
    rather than one message's way to its waiter. A callback is paced the same way by
    its answer, which comes after the local fan-out. With `paced=False` they go back to
    back, acknowledged only: how many a second the server delivers (`Delivery.per_second`).
    """
    sent: dict[str, float] = {}
    tally = Tally(started=time.perf_counter())
    for waiter in chosen:
        sent[waiter.order.order_id] = started = time.perf_counter()
        try:
            await publish(waiter.order)
        except Exception as exc:  # any failure is counted as one, and the run goes on
            tally.failures.append(f"{type(exc).__name__}: {exc}")
            continue
        tally.latencies.append(time.perf_counter() - started)
        if paced and waiter.finished is not None:
            # Not cancelled by the timeout: a waiter that never hears is counted missing.
            await asyncio.wait([waiter.finished], timeout=HEARD_TIMEOUT)
    tally.finished = time.perf_counter()
    await asyncio.wait([w.finished for w in chosen if w.finished is not None], timeout=60)
    return Delivery(chosen, heard.at, tally, sent)
