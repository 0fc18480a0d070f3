"""Redis clients made the same way everywhere: timeouts given, and a new connection's only handshake is HELLO.

By default redis-py 8 follows HELLO with CLIENT SETINFO twice (library name and version) and with CLIENT
MAINT_NOTIFICATIONS (maintenance events of managed Redis clusters; self-hosted Redis 7 answers it with an
error): four round trips before the first real command. A client's pool grows when requests come faster
than before (64 concurrent status reads after 16 opened 48 connections at once, and the first requests of
that moment waited up to ~90 ms instead of ~40), so every schedgen client skips them. Redis is imported only
when a client is made: an embedded process never loads it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import redis
    import redis.asyncio as aioredis


def client_options(
    timeout_s: float, connect_timeout_s: float | None = None, **options: Any
) -> dict[str, Any]:
    """Keyword options of redis-py's clients: a HELLO-only handshake, each command timing out after
    `timeout_s`, a connect after `connect_timeout_s` (default: `timeout_s`), then `options`. The rate
    limiter gives them to the `limits` library, which makes its own client."""
    from redis.maint_notifications import MaintNotificationsConfig

    connect = timeout_s if connect_timeout_s is None else connect_timeout_s
    return {
        "driver_info": None,
        "maint_notifications_config": MaintNotificationsConfig(enabled=False),
        "socket_timeout": timeout_s,
        "socket_connect_timeout": connect,
        **options,
    }


def redis_client(
    url: str, timeout_s: float, *, connect_timeout_s: float | None = None, **options: Any
) -> redis.Redis:
    """A blocking client for `url`, with client_options."""
    import redis

    return redis.Redis.from_url(url, **client_options(timeout_s, connect_timeout_s, **options))


def async_redis_client(
    url: str, timeout_s: float, *, connect_timeout_s: float | None = None, **options: Any
) -> aioredis.Redis:
    """An asyncio client for `url`, with client_options; make it in the event loop that uses it."""
    import redis.asyncio as aioredis

    return aioredis.Redis.from_url(url, **client_options(timeout_s, connect_timeout_s, **options))
