"""Redis clients of every schedgen process: a new connection's handshake is HELLO alone.

redis-py's default handshake adds CLIENT SETINFO (twice) and CLIENT MAINT_NOTIFICATIONS. Servers before
Redis 7.2 answer both with errors, newer ones run SETINFO: either way the server counts them, so the tests
count what the server saw while one connection was opened.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from schedgen.adapters.ratelimit import RateLimiter
from schedgen.adapters.redis_client import async_redis_client, redis_client
from schedgen.config import Settings
from tests.support.webapps import run_async


def _setinfo_seen(url: str) -> int:
    """CLIENT SETINFO commands the server has run, plus its ERR replies (to what it does not know: CLIENT
    SETINFO before 7.2, CLIENT MAINT_NOTIFICATIONS without a managed cluster). Other errors are not counted:
    a NOSCRIPT answers the rate limiter's first EVALSHA whenever Redis has not cached its script yet."""
    admin = redis_client(url, 2)
    try:
        calls = admin.info("commandstats").get("cmdstat_client|setinfo", {}).get("calls", 0)
        return int(calls) + int(admin.info("errorstats").get("errorstat_ERR", {}).get("count", 0))
    finally:
        admin.close()


def _setinfo_while(url: str, open_one: Callable[[], None]) -> int:
    before = _setinfo_seen(url)
    open_one()
    return _setinfo_seen(url) - before


def test_a_default_redis_py_connection_sends_client_setinfo(redis_url: str) -> None:
    import redis

    def open_default() -> None:
        client = redis.Redis.from_url(redis_url)  # what the helpers change
        client.ping()
        client.close()

    assert _setinfo_while(redis_url, open_default) >= 2  # the measure sees them on this server


def test_blocking_and_asyncio_clients_send_only_their_commands(redis_url: str) -> None:
    def open_blocking() -> None:
        client = redis_client(redis_url, 2, connect_timeout_s=1)
        pool = client.connection_pool.connection_kwargs
        assert (pool["socket_timeout"], pool["socket_connect_timeout"]) == (2, 1)
        client.ping()
        client.close()

    def open_asyncio() -> None:
        async def ping() -> None:
            client = async_redis_client(redis_url, 2)
            await client.ping()
            await client.aclose()

        run_async(ping())

    assert _setinfo_while(redis_url, open_blocking) == 0
    assert _setinfo_while(redis_url, open_asyncio) == 0


def test_the_rate_limiter_store_sends_only_its_commands(redis_url: str, tmp_path: Path) -> None:
    limiter = RateLimiter(Settings(redis_url=redis_url, data_dir=tmp_path))

    def open_store() -> None:
        async def hit(start: Callable[[], Awaitable[None]]) -> None:
            await start()
            try:
                assert limiter.storage is not None
                await limiter.storage.incr("schedgen-test-key", 60)  # opens the store's connection
            finally:
                await limiter.close()

        run_async(hit(limiter.start))

    assert _setinfo_while(redis_url, open_store) == 0
