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


async def publish_each(
    publish: Callable[[Order], Awaitable[None]], chosen: list[Waiter], heard: FirstChanges
) -> Delivery:
    """`publish` each chosen order's news, one after the other; wait until each is heard.

    A bare publish: no callback, no store, only the message, for servers that have
    nothing else (bench.compare's peers) and for this service's part after the commit.
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
    tally.finished = time.perf_counter()
    await asyncio.wait([w.finished for w in chosen if w.finished is not None], timeout=60)
    return Delivery(chosen, heard.at, tally, sent)
