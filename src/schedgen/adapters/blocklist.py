"""IP blocking after repeated failed authentication (seeds R8.5): Redis (shared) or in-process memory.

record_failure counts failures in a moving window; the failure that reaches the limit blocks the address for
the block time. Every Redis call has a short timeout; a store that fails is reported, never waited on.

With Redis, each process checks requests against its own copy of the blocked addresses, re-read at most once
a second (one call per second instead of one per request): a block or unblock made by this process applies
at once, one made by another process (another API instance, `schedgen admin unblock`) within a second.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, cast

from schedgen.adapters.redis_client import async_redis_client
from schedgen.config import Settings

if TYPE_CHECKING:
    import redis.asyncio as aioredis

PREFIX = "schedgen:auth"  # Redis keys: <PREFIX>:failures:<ip> (zset), <PREFIX>:blocked:<ip> (string, TTL)
INDEX = f"{PREFIX}:blocked-index"  # zset of blocked addresses scored by when their block ends (epoch s)
SNAPSHOT_MAX_AGE_S = 1.0  # how old a process's copy of the blocked addresses may get


@dataclass(frozen=True, slots=True)
class Block:
    """A blocked address and when (epoch seconds) the block ends."""

    ip: str
    until: float


class Blocklist(Protocol):
    """Where failed attempts and blocks are kept."""

    async def record_failure(self, ip: str) -> bool: ...  # True if this failure blocked the address
    async def is_blocked(self, ip: str) -> bool: ...
    async def blocked(self) -> list[Block]: ...
    async def unblock(self, ip: str) -> bool: ...
    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Policy:
    """How many failures within which window block an address, and for how long."""

    max_failures: int
    window_s: float
    block_s: float

    @classmethod
    def of(cls, settings: Settings) -> Policy:
        """The policy from settings (5 failures within 15 minutes block for 1 hour by default)."""
        return cls(settings.auth_max_failures, settings.auth_failure_window_s, settings.auth_block_s)


class MemoryBlocklist:
    """Blocks kept in this process (embedded mode)."""

    def __init__(self, policy: Policy, clock: Callable[[], float] = time.time) -> None:
        self.policy = policy
        self.clock = clock
        self.failures: dict[str, deque[float]] = {}
        self.blocks: dict[str, float] = {}

    async def record_failure(self, ip: str) -> bool:
        """Count a failure; block the address when it reaches the limit within the window."""
        now = self.clock()
        recent = self.failures.setdefault(ip, deque())
        recent.append(now)
        while recent and recent[0] <= now - self.policy.window_s:
            recent.popleft()
        if len(recent) >= self.policy.max_failures:
            self.blocks[ip] = now + self.policy.block_s
            recent.clear()
            return True
        return False

    async def is_blocked(self, ip: str) -> bool:
        """Whether the address is blocked now."""
        until = self.blocks.get(ip)
        if until is None:
            return False
        if until <= self.clock():
            del self.blocks[ip]
            return False
        return True

    async def blocked(self) -> list[Block]:
        """Addresses blocked now."""
        now = self.clock()
        return sorted(
            (Block(ip, until) for ip, until in self.blocks.items() if until > now), key=lambda b: b.ip
        )

    async def unblock(self, ip: str) -> bool:
        """Lift a block (and forget the failures); False if the address was not blocked."""
        self.failures.pop(ip, None)
        return self.blocks.pop(ip, None) is not None

    async def close(self) -> None:
        """Nothing to release."""


class RedisBlocklist:
    """Blocks shared by every process through Redis."""

    def __init__(
        self,
        client: aioredis.Redis,
        policy: Policy,
        timeout_s: float,
        snapshot_max_age_s: float = SNAPSHOT_MAX_AGE_S,
    ) -> None:
        self.client = client
        self.policy = policy
        self.timeout_s = timeout_s
        self.snapshot_max_age_s = snapshot_max_age_s
        self._blocks: dict[str, float] = {}  # this process's copy: address -> when its block ends
        self._read_at = -math.inf  # time.monotonic() of the last read of the index

    async def record_failure(self, ip: str) -> bool:
        """Count a failure in a sorted set (a moving window); block when it reaches the limit."""
        now = time.time()
        key = f"{PREFIX}:failures:{ip}"
        async with asyncio.timeout(self.timeout_s * 4):
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.zadd(key, {f"{now}:{uuid.uuid4().hex[:8]}": now})
                pipe.zremrangebyscore(key, 0, now - self.policy.window_s)
                pipe.zcard(key)
                pipe.expire(key, int(self.policy.window_s) + 1)
                _, _, count, _ = await pipe.execute()
            if int(count) < self.policy.max_failures:
                return False
            until = now + self.policy.block_s
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.set(f"{PREFIX}:blocked:{ip}", str(until), ex=int(self.policy.block_s))
                pipe.zadd(INDEX, {ip: until})
                pipe.zremrangebyscore(INDEX, "-inf", now)  # blocks that have ended
                pipe.delete(key)
                await pipe.execute()
        self._blocks[ip] = until
        return True

    async def is_blocked(self, ip: str) -> bool:
        """Whether the address is blocked now, by this process's copy (re-read when older than a second)."""
        started = time.monotonic()
        if started - self._read_at >= self.snapshot_max_age_s:
            await self._refresh(started)
        until = self._blocks.get(ip)
        return until is not None and until > time.time()

    async def _refresh(self, started: float) -> None:
        previous, self._read_at = self._read_at, started  # concurrent requests use the copy meanwhile
        try:
            async with asyncio.timeout(self.timeout_s * 2):
                rows = await self.client.zrangebyscore(INDEX, time.time(), "+inf", withscores=True)
        except BaseException:
            self._read_at = previous  # the next request tries again
            raise
        pairs = cast(list[tuple[bytes | str, float]], rows)  # withscores=True: (member, score) pairs
        self._blocks = {
            (ip.decode() if isinstance(ip, bytes) else str(ip)): float(until) for ip, until in pairs
        }

    async def blocked(self) -> list[Block]:
        """Addresses blocked now."""
        out = []
        async with asyncio.timeout(max(2.0, self.timeout_s * 8)):
            async for raw in self.client.scan_iter(match=f"{PREFIX}:blocked:*", count=500):
                key = raw.decode() if isinstance(raw, bytes) else str(raw)
                until = await self.client.get(key)
                if until is not None:
                    out.append(Block(key.rsplit(":blocked:", 1)[1], float(until)))
        return sorted(out, key=lambda b: b.ip)

    async def unblock(self, ip: str) -> bool:
        """Lift a block (and forget the failures); False if the address was not blocked."""
        async with asyncio.timeout(self.timeout_s * 4):
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.delete(f"{PREFIX}:blocked:{ip}")
                pipe.zrem(INDEX, ip)
                pipe.delete(f"{PREFIX}:failures:{ip}")
                was_blocked, _, _ = await pipe.execute()
        self._blocks.pop(ip, None)
        return bool(was_blocked)

    async def close(self) -> None:
        """Close the client."""
        await self.client.aclose()


def build_blocklist(settings: Settings) -> Blocklist:
    """Redis-backed when SCHEDGEN_REDIS_URL is set, else in memory; call inside the event loop that uses it."""
    policy = Policy.of(settings)
    if settings.redis_url is None:
        return MemoryBlocklist(policy)
    client = async_redis_client(settings.redis_url, settings.rate_limit_timeout_s)
    return RedisBlocklist(client, policy, settings.rate_limit_timeout_s)
