"""IP blocking after repeated failed authentication (seeds R8.5): Redis (shared) or in-process memory.

record_failure counts failures in a moving window; the failure that reaches the limit blocks the address for
the block time. Every Redis call has a short timeout; a store that fails is reported, never waited on.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from schedgen.config import Settings

if TYPE_CHECKING:
    import redis.asyncio as aioredis

PREFIX = "schedgen:auth"  # Redis keys: <PREFIX>:failures:<ip> (zset), <PREFIX>:blocked:<ip> (string, TTL)


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

    def __init__(self, client: aioredis.Redis, policy: Policy, timeout_s: float) -> None:
        self.client = client
        self.policy = policy
        self.timeout_s = timeout_s

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
            await self.client.set(
                f"{PREFIX}:blocked:{ip}", str(now + self.policy.block_s), ex=int(self.policy.block_s)
            )
            await self.client.delete(key)
        return True

    async def is_blocked(self, ip: str) -> bool:
        """Whether the address is blocked now."""
        async with asyncio.timeout(self.timeout_s * 2):
            return bool(await self.client.exists(f"{PREFIX}:blocked:{ip}"))

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
            was_blocked = await self.client.delete(f"{PREFIX}:blocked:{ip}")
            await self.client.delete(f"{PREFIX}:failures:{ip}")
            return bool(was_blocked)

    async def close(self) -> None:
        """Close the client."""
        await self.client.aclose()


def build_blocklist(settings: Settings) -> Blocklist:
    """Redis-backed when SCHEDGEN_REDIS_URL is set, else in memory; call inside the event loop that uses it."""
    policy = Policy.of(settings)
    if settings.redis_url is None:
        return MemoryBlocklist(policy)
    import redis.asyncio as aioredis  # only in distributed mode

    client = aioredis.Redis.from_url(
        settings.redis_url,
        socket_timeout=settings.rate_limit_timeout_s,
        socket_connect_timeout=settings.rate_limit_timeout_s,
    )
    return RedisBlocklist(client, policy, settings.rate_limit_timeout_s)
