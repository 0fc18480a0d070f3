"""Rate limits on the `limits` library: moving windows in Redis (distributed) or in memory (embedded).

Every call is bounded by a short timeout; a store that cannot answer raises LimiterUnavailable and the caller
decides to fail open or closed. Storage clients are made in start(), inside the server's event loop.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from schedgen.adapters.redis_client import client_options
from schedgen.config import Settings

log = logging.getLogger(__name__)

KEY_PREFIX = "schedgen-limits"


class LimiterUnavailable(Exception):  # noqa: N818 - an adapter signal, translated by the middleware
    """Raised when the limiter's store did not answer in time or failed."""


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one hit: allowed or not, and the numbers for the X-RateLimit-* headers."""

    allowed: bool
    limit: int
    remaining: int
    reset_at: float  # seconds since the epoch when a slot frees up


class RateLimiter:
    """Named limits ("uploads", "status", "global") hit per key, against one shared store."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.items: dict[str, RateLimitItem] = {
            "uploads": parse(settings.rate_limit_uploads),
            "status": parse(settings.rate_limit_status),
            "global": parse(settings.rate_limit_global),
            "feeds": parse(settings.rate_limit_feeds),  # issue 6: per feed token
        }
        self.timeout_s = settings.rate_limit_timeout_s
        self.storage: Storage | None = None
        self.strategy: MovingWindowRateLimiter | None = None

    async def start(self) -> None:
        """Create the store client (in the running event loop)."""
        if self.settings.redis_url:
            self.storage = RedisStorage(
                "async+" + self.settings.redis_url,
                implementation="redispy",
                key_prefix=KEY_PREFIX,
                **client_options(self.timeout_s),
            )
        else:
            self.storage = MemoryStorage()
        self.strategy = MovingWindowRateLimiter(self.storage)

    async def close(self) -> None:
        """Close the Redis client, if any."""
        bridge: Any = getattr(self.storage, "bridge", None)
        client = getattr(bridge, "storage", None)
        if client is not None:
            try:
                await client.aclose()
            except Exception:  # closing a broken connection must not fail shutdown
                log.debug("rate limiter client did not close cleanly", exc_info=True)
        self.storage = self.strategy = None

    async def hit(self, name: str, key: str, *, stats: bool = True) -> Decision:
        """Count one request of `key` against limit `name`; raise LimiterUnavailable if the store fails."""
        if self.strategy is None:
            raise LimiterUnavailable("rate limiter not started")
        item = self.items[name]
        try:
            async with asyncio.timeout(self.timeout_s * 2):
                allowed = await self.strategy.hit(item, name, key)
                if not stats and allowed:
                    return Decision(True, item.amount, -1, 0.0)
                window = await self.strategy.get_window_stats(item, name, key)
        except (TimeoutError, OSError, Exception) as exc:
            raise LimiterUnavailable(type(exc).__name__) from exc
        return Decision(allowed, item.amount, max(0, window.remaining), window.reset_time)

    async def clear(self, name: str, key: str) -> None:
        """Forget the hits of `key` against limit `name` (tests, admin)."""
        if self.strategy is not None:
            await self.strategy.clear(self.items[name], name, key)
