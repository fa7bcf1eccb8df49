"""The store's own errors: what a driver's exception means for the service, decided here.

The backends (`sqlite_backend.py`, `postgres_backend.py`) translate what their driver raises
at the boundary, as httpx translates its transports' errors, so that nothing above
`server/store/` imports `sqlite3` or `asyncpg`:

- `StoreUnavailable`: the store cannot answer now and the same request may succeed in a
  moment (unreachable, restarting, refusing connections, too many clients, locked past the
  busy timeout, a deadlock victim). The API answers a JSON 503 with `Retry-After`.
- `StoreConflict`: a write broke a uniqueness rule: another writer got there first. The
  domain code that can expect it catches it (a drawn order number already taken).

Anything else a driver raises (a missing column, a syntax error, a NOT NULL broken) is a
bug and passes through untouched, to be logged with its traceback and answered as a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import TracebackType


class StoreError(Exception):
    """Base of the errors the store raises on its own behalf."""


class StoreUnavailable(StoreError):
    """The store cannot answer now; trying again shortly may succeed."""


class StoreConflict(StoreError):
    """A write collided with a row another writer already stored (a unique key)."""


# Decides what a driver's exception means: one of the errors above, or None for a bug.
Classify = Callable[[Exception], type[StoreError] | None]


class translating:  # lower-case: read as a function, `with translating(classify):`
    """Re-raise a driver's exception as the store's own, when `classify` says what it is.

    A class, not a `@contextmanager` generator: every statement passes through one or two
    of these, and the generator's machinery was 4 Python calls each (docs/BENCHMARKS.md)."""

    __slots__ = ("classify",)

    def __init__(self, classify: Classify) -> None:
        self.classify = classify

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        # None, never True: whatever is not translated goes on as it was.
        if not isinstance(exc, Exception):
            return
        error = store_error(exc, self.classify)
        if error is not None:
            raise error from exc


def store_error(exc: Exception, classify: Classify) -> StoreError | None:
    """The store's own error for a driver's `exc` (raise it `from exc`), or None to let
    `exc` go on as it is. For an `except` clause on a hot path, where a `with translating`
    block would cost two Python calls on every statement that succeeds."""
    if isinstance(exc, StoreError):
        return None
    kind = classify(exc)
    return None if kind is None else kind(f"{type(exc).__name__}: {exc}")


def log_failed_pass(log: logging.Logger, what: str, retry: str, exc: Exception) -> None:
    """A background pass (the outbox, the expiry pass, the safety net) that stopped on `exc`.

    A store that refused it is an outage or an overload, named in one WARNING line: its
    traceback is the pool's or the driver's and says nothing more, and in a sale past the
    host's capacity it was three tracebacks a pass. Anything else is a bug: its traceback."""
    if isinstance(exc, StoreUnavailable):
        log.warning("%s stopped: the store is unavailable (%s); trying again %s", what, exc, retry)
    else:
        log.error("%s failed; trying again %s", what, retry, exc_info=exc)
