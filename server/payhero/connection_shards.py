"""PayHero's connections in several small httpx pools instead of one large one.

httpcore 1.0's pool walks every connection it holds on each request's start and end, and
for each idle one it counts the idle ones again (a list over all of them) and polls the
socket: the work per request grows with the square of the pool. In a flash sale ~150
pushes wait on PayHero at once, each for 0.5-3 s, and the pool holds as many kept-alive
connections; a py-spy profile of the 5,000-buyer sale put 21% of the event loop's CPU in
httpx's `request` for the pushes, mostly that walk (docs/BENCHMARKS.md, "PayHero's
connections in eight pools"). The fix upstream (encode/httpcore#1035) is not released.

So the connections are split over shards of at most `PER_SHARD` each, every shard a plain
`httpx.AsyncHTTPTransport`, and a request goes to the shard with the fewest requests in
flight: the walk is over a few dozen connections, and the shards fill evenly, so a request
waits for a connection only when every shard is full, as with one pool of the same total.
Only httpx's public transport API is used.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Callable

import httpx

# Measured with a one-off client of 80 POSTs a second held 0.5-3 s each: CPU per request
# 2.4 ms in one pool of 256, 1.7 in four pools, 1.5 in eight (32 each), 1.4 in 32.
PER_SHARD = 32


class ShardedTransport(httpx.AsyncBaseTransport):
    """httpx transports side by side; each request to the one with the fewest in flight."""

    def __init__(self, shards: list[httpx.AsyncBaseTransport]) -> None:
        self._shards = shards
        self._in_flight = [0] * len(shards)

    @property
    def in_flight(self) -> tuple[int, ...]:
        """Requests in flight on each shard: sent, or answered with the body not yet closed."""
        return tuple(self._in_flight)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        index = min(range(len(self._shards)), key=self._in_flight.__getitem__)
        self._in_flight[index] += 1

        def done() -> None:
            self._in_flight[index] -= 1

        try:
            response = await self._shards[index].handle_async_request(request)
        except BaseException:
            done()
            raise
        # The connection stays busy until the client has read and closed the body.
        response.stream = _ReleasedOnClose(response.stream, done)
        return response

    async def aclose(self) -> None:
        for shard in self._shards:
            await shard.aclose()


class _ReleasedOnClose(httpx.AsyncByteStream):
    """A response body that calls `done` once when it is closed."""

    def __init__(self, inner: httpx.SyncByteStream | httpx.AsyncByteStream, done: Callable[[], None]) -> None:
        assert isinstance(inner, httpx.AsyncByteStream)
        self._inner = inner
        self._done: Callable[[], None] | None = done

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            done, self._done = self._done, None
            if done is not None:
                done()


def sharded_transport(
    max_connections: int, *, verify: ssl.SSLContext, proxy: str | None = None
) -> ShardedTransport:
    """`max_connections` kept-alive connections in all, over shards of at most PER_SHARD,
    each through `proxy` when one is given."""
    count = -(-max_connections // PER_SHARD)
    sizes = [max_connections // count + (1 if i < max_connections % count else 0) for i in range(count)]
    return ShardedTransport(
        [
            httpx.AsyncHTTPTransport(
                verify=verify,
                proxy=proxy,
                limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
            )
            for size in sizes
        ]
    )
