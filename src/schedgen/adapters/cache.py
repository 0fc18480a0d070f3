"""A cache of finished jobs' JSON documents: Redis shared by every process, or memory in one process.

Only documents of finished jobs (completed, failed) are stored, with ``add`` (set if absent). Whoever
changes a finished job afterwards (deletion, expiry, an operator's retry) calls ``mark_changed``, which
overwrites the entry with a short-lived marker: a reader that loaded the old row before the change cannot
store it over the marker, and readers go to the database until the marker expires. So a read never
returns a status older than the last change, as long as no reader takes longer than the marker's lifetime
between its database read and its ``add`` (the marker outlives the statement timeout).

The cache is an optimisation: every error is logged and treated as a miss; it never fails a request.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from collections import OrderedDict
from typing import TYPE_CHECKING, Protocol

from schedgen.adapters.redis_client import async_redis_client, redis_client

if TYPE_CHECKING:
    import redis
    import redis.asyncio as aioredis

log = logging.getLogger(__name__)

MARKER = b"\x00changed"  # a value no JSON document starts with
KEY_PREFIX = "schedgen:job-doc:"


def _document(value: object) -> bytes | None:
    """A Redis value as a cached document: None for a missing entry or a change marker."""
    if not isinstance(value, bytes) or value == MARKER:
        return None
    return value


class JobCache(Protocol):
    """Finished jobs' documents by job id."""

    local: bool  # True: lookups are in this process's memory (no I/O, safe on the event loop)

    def get(self, job_id: str) -> bytes | None:
        """The stored document, or None (absent, expired or marked changed)."""
        ...

    def add(self, job_id: str, document: bytes, ttl_s: float) -> None:
        """Store the document unless an entry or a change marker is already there."""
        ...

    def mark_changed(self, job_id: str, ttl_s: float) -> None:
        """Replace any entry with a change marker that blocks ``add`` for `ttl_s` seconds."""
        ...


DEFAULT_MEMORY_BYTES = 2 * 1024 * 1024  # compressed: ~3,500 typical documents (~4 KB each, ~600 B stored)
_LEVEL = 1  # zlib's fastest: a document compresses ~7x in ~45 us and decompresses in ~9 us


class MemoryJobCache:
    """JobCache in this process's memory: documents kept zlib-compressed and bounded in stored bytes (least
    recently used out first); change markers kept apart, never evicted for space, pruned once expired.

    Compressed, the same memory holds ~7 times the documents: a miss (a database read, a thread hop and a
    render) costs far more than decompressing a hit.
    """

    local = True

    def __init__(self, max_bytes: int = DEFAULT_MEMORY_BYTES) -> None:
        self._documents: OrderedDict[str, tuple[bytes, float]] = OrderedDict()
        self._markers: dict[str, float] = {}  # job id -> when the marker expires
        self._lock = threading.Lock()
        self._max_bytes = max_bytes
        self._bytes = 0

    def get(self, job_id: str) -> bytes | None:
        """The stored document, or None."""
        now = time.monotonic()
        with self._lock:
            entry = self._documents.get(job_id)
            if entry is None:
                return None
            document, expires = entry
            if expires <= now:
                self._drop(job_id)
                return None
            self._documents.move_to_end(job_id)
        return zlib.decompress(document)

    def add(self, job_id: str, document: bytes, ttl_s: float) -> None:
        """Store unless a live document or marker is there."""
        packed = zlib.compress(document, _LEVEL)
        now = time.monotonic()
        with self._lock:
            if self._markers.get(job_id, now) > now:
                return
            entry = self._documents.get(job_id)
            if (entry is not None and entry[1] > now) or len(packed) > self._max_bytes:
                return
            self._drop(job_id)
            self._documents[job_id] = (packed, now + ttl_s)
            self._bytes += len(packed)
            while self._bytes > self._max_bytes:
                _, (oldest, _) = self._documents.popitem(last=False)
                self._bytes -= len(oldest)

    def mark_changed(self, job_id: str, ttl_s: float) -> None:
        """Drop the document and block adds for `ttl_s` seconds."""
        now = time.monotonic()
        with self._lock:
            self._drop(job_id)
            self._markers[job_id] = now + ttl_s
            if len(self._markers) > _PRUNE_MARKERS_OVER:
                self._markers = {key: until for key, until in self._markers.items() if until > now}

    def _drop(self, job_id: str) -> None:
        entry = self._documents.pop(job_id, None)
        if entry is not None:
            self._bytes -= len(entry[0])


_PRUNE_MARKERS_OVER = 1024  # expired markers are pruned when more than this many are kept


class RedisJobCache:
    """JobCache in Redis, shared by every API instance; errors count as misses."""

    local = False

    def __init__(self, client: redis.Redis) -> None:
        import redis

        self._redis = client
        self._errors: tuple[type[Exception], ...] = (redis.RedisError, OSError)

    def get(self, job_id: str) -> bytes | None:
        """The stored document, or None."""
        try:
            value = self._redis.get(KEY_PREFIX + job_id)
        except self._errors as exc:
            log.warning("job cache unavailable (get): %s", exc)
            return None
        return _document(value)

    def add(self, job_id: str, document: bytes, ttl_s: float) -> None:
        """SET NX with an expiry."""
        try:
            self._redis.set(KEY_PREFIX + job_id, document, px=max(1, int(ttl_s * 1000)), nx=True)
        except self._errors as exc:
            log.warning("job cache unavailable (add): %s", exc)

    def mark_changed(self, job_id: str, ttl_s: float) -> None:
        """SET the marker (overwriting) with an expiry."""
        try:
            self._redis.set(KEY_PREFIX + job_id, MARKER, px=max(1, int(ttl_s * 1000)))
        except self._errors as exc:
            log.warning("job cache unavailable (mark): %s", exc)


class AsyncJobDocuments:
    """Reads of the shared Redis job cache from the event loop: no thread hop for a status poll.

    Opened by the app's lifespan in the loop that serves requests and closed by it; only reads (writes stay
    with the job use cases). Errors are logged and count as misses, like RedisJobCache's.
    """

    def __init__(self, client: aioredis.Redis) -> None:
        import redis

        self._redis = client
        self._errors: tuple[type[Exception], ...] = (redis.RedisError, OSError, TimeoutError)

    async def get(self, job_id: str) -> bytes | None:
        """The stored document, or None (absent, expired, marked changed, or Redis unavailable)."""
        try:
            value = await self._redis.get(KEY_PREFIX + job_id)
        except self._errors as exc:
            log.warning("job cache unavailable (get): %s", exc)
            return None
        return _document(value)

    async def close(self) -> None:
        """Close the client's connections."""
        await self._redis.aclose()


def open_async_job_documents(redis_url: str | None, timeout_s: float) -> AsyncJobDocuments | None:
    """An event-loop reader of the Redis job cache, or None without Redis (the memory cache needs none)."""
    if redis_url is None:
        return None
    return AsyncJobDocuments(async_redis_client(redis_url, timeout_s))


def build_job_cache(redis_url: str | None, timeout_s: float) -> JobCache:
    """Redis when a URL is given (shared by all processes), else memory."""
    if redis_url is None:
        return MemoryJobCache()
    return RedisJobCache(redis_client(redis_url, timeout_s))
