"""What a Redis call raises when Redis is down, hung or unreachable.

Apart from `RedisHealth` (server/broker/redis_health.py), which every process builds: naming
redis-py's exceptions loads redis-py, and only a process with a Redis URL needs it.
"""

from __future__ import annotations

from redis.exceptions import RedisClusterException, RedisError

# redis-py's cluster client also raises RedisClusterException, which is no RedisError
# ("cannot be connected", a slot not covered): let through, it made a cluster unreachable
# at start stop the service from starting, and a checkout fail on the push limits.
REDIS_DOWN: tuple[type[Exception], ...] = (RedisError, RedisClusterException, OSError)
