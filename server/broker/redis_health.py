"""Whether Redis answers: one verdict per process, shared by its Redis clients on the request path.

A Redis that is down refuses connections at once; a Redis that hangs (SIGSTOP, a stalled
host, a full network buffer) accepts them and never answers, and every call waits for its
timeout. With the library's defaults (5 s, retried once) every checkout and callback took
10 s on a stopped Redis. So each call on the request path (publishing a status, the push
limits) has a short timeout (`REDIS_TIMEOUT`, 1 s), and the first that fails marks Redis as
not answering for `COOL_OFF_TIMEOUTS` timeouts (5 s by default): meanwhile every caller
skips Redis at once (publishing falls back to the store's safety net, push limits count in
the process, /readyz says `broker: degraded`), so a hung Redis costs a request at most one
timeout. The next call after the cool-off tries Redis again.
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger("server.broker")

COOL_OFF_TIMEOUTS = 5


class RedisHealth:
    """Whether Redis answers, shared by every caller in the process: after a failure all of
    them skip Redis for a cool-off instead of each waiting out its own timeout."""

    def __init__(self, timeout: float = 1.0) -> None:
        self.timeout = timeout
        self.cool_off = COOL_OFF_TIMEOUTS * timeout
        self._skip_until = 0.0
        self._failing = False
        # Read by /metrics and the tests: calls that failed and made every caller skip Redis.
        self.failures = 0

    def answering(self) -> bool:
        """False while cooling off after a failure: callers skip Redis without trying."""
        return time.monotonic() >= self._skip_until

    def failed(self, what: str, exc: BaseException) -> None:
        self.failures += 1
        self._skip_until = time.monotonic() + self.cool_off
        if not self._failing:
            self._failing = True
            log.warning(
                "redis did not answer (%s: %s); skipping it for %.1fs at a time until it does",
                what,
                exc or type(exc).__name__,
                self.cool_off,
            )

    def succeeded(self) -> bool:
        """Record an answer; True when Redis had been failing until now."""
        if not self._failing:
            return False
        self._failing = False
        log.info("redis answers again")
        return True
