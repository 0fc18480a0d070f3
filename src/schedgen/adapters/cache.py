"""A cache of finished jobs' JSON documents: Redis shared by every process, or memory in one process.

Only documents of finished jobs (completed, failed) are stored, with ``add`` (set if absent). Whoever
changes a finished job afterwards (deletion, expiry, an operator's retry) calls ``mark_changed``, which
overwrites the entry with a short-lived marker: a reader that loaded the old row before the change cannot
store it over the marker, and readers go to the database until the marker expires. So a read never
returns a status older than the last change, as long as no reader takes longer than the marker's lifetime
between its database read and its ``add`` (the marker outlives the statement timeout).

With Redis, each API process can also keep its own copy of the documents it has read (a near cache), so a
poll of a finished job costs no round trip at all. ``mark_changed`` publishes the job id on a Redis channel
that every process follows; a process drops the job from its copy when the id arrives, drops its whole copy
whenever its subscription starts again (messages may have been missed), and uses no copy while it is not
subscribed. A read that was on its way to Redis while any change arrived does not enter the copy.

The cache is an optimisation: every error is logged and treated as a miss; it never fails a request.
"""

from __future__ import annotations

import asyncio
import contextlib
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
CHANGES_CHANNEL = "schedgen:job-doc:changed"  # mark_changed publishes the job id here for near caches


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

    def discard(self, job_id: str) -> None:
        """Drop the job's document, if stored (no marker)."""
        with self._lock:
            self._drop(job_id)

    def clear(self) -> None:
        """Drop every document and marker."""
        with self._lock:
            self._documents.clear()
            self._markers.clear()
            self._bytes = 0

    def _drop(self, job_id: str) -> None:
        entry = self._documents.pop(job_id, None)
        if entry is not None:
            self._bytes -= len(entry[0])


_PRUNE_MARKERS_OVER = 1024  # expired markers are pruned when more than this many are kept


class NearCopy:
    """One process's copy of documents read from the Redis cache; used only while ``live``.

    ``generation`` counts the changes heard (and every start or loss of the change feed): a read keeps what
    Redis answered only if no change came while it waited (``keep``). The process's own changes are heard
    at once (RedisJobCache.mark_changed), other processes' through the feed (AsyncJobDocuments).
    """

    def __init__(self, max_bytes: int, ttl_s: float) -> None:
        self.documents = MemoryJobCache(max_bytes)
        self.ttl_s = ttl_s
        self.live = False
        self.generation = 0
        self._lock = threading.Lock()  # changes come from request threads and from the event loop

    def get(self, job_id: str) -> bytes | None:
        """The kept document while live, else None."""
        return self.documents.get(job_id) if self.live else None

    def keep(self, job_id: str, document: bytes, generation: int) -> None:
        """Keep a document read from Redis when the generation was `generation`, if nothing changed since."""
        with self._lock:
            if self.live and generation == self.generation:
                self.documents.add(job_id, document, self.ttl_s)

    def changed(self, job_id: str) -> None:
        """The job changed: drop its document; reads under way keep nothing."""
        with self._lock:
            self.generation += 1
            self.documents.discard(job_id)

    def restart(self, *, live: bool) -> None:
        """The change feed (re)started (`live`) or was lost: drop everything; reads under way keep nothing."""
        with self._lock:
            self.generation += 1
            self.documents.clear()
            self.live = live


class RedisJobCache:
    """JobCache in Redis, shared by every API instance; errors count as misses."""

    local = False

    def __init__(self, client: redis.Redis, near: NearCopy | None = None) -> None:
        import redis

        self._redis = client
        self._errors: tuple[type[Exception], ...] = (redis.RedisError, OSError)
        self.near = near  # this process's near copy, which the API's event-loop reader fills

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
        """SET the marker (overwriting) with an expiry and tell every process's near copy (one round trip).

        This process's own copy forgets the job before and after: a read that got the old document from
        Redis before the marker was there cannot keep it.
        """
        if self.near is not None:
            self.near.changed(job_id)
        try:
            pipe = self._redis.pipeline(transaction=False)
            pipe.set(KEY_PREFIX + job_id, MARKER, px=max(1, int(ttl_s * 1000)))
            pipe.publish(CHANGES_CHANNEL, job_id)
            pipe.execute()
        except self._errors as exc:
            log.warning("job cache unavailable (mark): %s", exc)
        finally:
            if self.near is not None:
                self.near.changed(job_id)


HEARTBEAT_S = 5.0  # a subscription silent this long is pinged; twice as long without an answer is lost
RESUBSCRIBE_MIN_S = 0.1  # first wait before following the changes again after an error; doubles
RESUBSCRIBE_MAX_S = 5.0


class AsyncJobDocuments:
    """Reads of the shared Redis job cache from the event loop: no thread hop for a status poll.

    With a near copy (and a subscriber client), documents read are also kept in this process while the
    change feed is followed: see the module's docstring for how they stay fresh. Opened by the app's
    lifespan in the loop that serves requests and closed by it; only reads (writes stay with the job use
    cases). Errors are logged and count as misses, like RedisJobCache's.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        near: NearCopy | None = None,
        subscriber: aioredis.Redis | None = None,
    ) -> None:
        import redis

        self._redis = client
        self._errors: tuple[type[Exception], ...] = (redis.RedisError, OSError, TimeoutError)
        self.near = near
        self._subscriber = subscriber
        self._following: asyncio.Task[None] | None = None

    async def get(self, job_id: str) -> bytes | None:
        """The stored document, or None (absent, expired, marked changed, or Redis unavailable)."""
        near = self.near
        generation = 0
        if near is not None:
            document = near.get(job_id)
            if document is not None:
                return document
            generation = near.generation
        try:
            value = await self._redis.get(KEY_PREFIX + job_id)
        except self._errors as exc:
            log.warning("job cache unavailable (get): %s", exc)
            return None
        document = _document(value)
        if document is not None and near is not None:
            near.keep(job_id, document, generation)
        return document

    def start(self) -> None:
        """Follow the change feed (in this running loop) if there is a near copy; call once."""
        if self.near is not None and self._subscriber is not None and self._following is None:
            self._following = asyncio.get_running_loop().create_task(self._follow_changes(self.near))

    async def close(self) -> None:
        """Stop following the changes and close the clients' connections."""
        if self._following is not None:
            self._following.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._following
            self._following = None
        if self.near is not None:
            self.near.restart(live=False)
        if self._subscriber is not None:
            await self._subscriber.aclose()
        await self._redis.aclose()

    async def _follow_changes(self, near: NearCopy) -> None:
        delay = RESUBSCRIBE_MIN_S
        while True:
            try:
                await self._listen(near)
            except self._errors as exc:
                log.warning("job cache: lost the change feed, near copy off until it is back: %s", exc)
            if near.live:  # it was following until now: try again soon
                delay = RESUBSCRIBE_MIN_S
            near.restart(live=False)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RESUBSCRIBE_MAX_S)

    async def _listen(self, near: NearCopy) -> None:
        assert self._subscriber is not None
        loop = asyncio.get_running_loop()
        pubsub = self._subscriber.pubsub()
        try:
            await pubsub.subscribe(CHANGES_CHANNEL)
            heard = loop.time()
            while True:
                message = await pubsub.get_message(timeout=HEARTBEAT_S)
                if message is None:
                    if loop.time() - heard > 2 * HEARTBEAT_S:
                        raise TimeoutError("no answer to the change feed's heartbeat")
                    await pubsub.ping()
                    continue
                heard = loop.time()
                kind = message.get("type")
                if kind == "subscribe":  # also after redis-py reconnected by itself: changes may be lost
                    near.restart(live=True)
                elif kind == "message":
                    data = message["data"]
                    near.changed(data.decode() if isinstance(data, bytes) else str(data))
        finally:
            with contextlib.suppress(*self._errors):
                await pubsub.aclose()  # type: ignore[no-untyped-call]


def open_async_job_documents(
    redis_url: str | None, timeout_s: float, *, near: NearCopy | None = None
) -> AsyncJobDocuments | None:
    """An event-loop reader of the Redis job cache, or None without Redis (the memory cache needs none).

    With `near` (the process's RedisJobCache's near copy) it fills that copy and follows the change feed
    from now on: call it in the loop that will use the reader.
    """
    if redis_url is None:
        return None
    if near is None:
        return AsyncJobDocuments(async_redis_client(redis_url, timeout_s))
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    # The subscription waits for messages as long as it takes, and never reconnects by itself: a lost
    # connection must turn the near copy off until the subscription starts again.
    subscriber = async_redis_client(
        redis_url, timeout_s, socket_timeout=None, socket_keepalive=True, retry=Retry(NoBackoff(), 0)
    )
    reader = AsyncJobDocuments(async_redis_client(redis_url, timeout_s), near=near, subscriber=subscriber)
    reader.start()
    return reader


def build_job_cache(
    redis_url: str | None, timeout_s: float, *, near_bytes: int = 0, near_ttl_s: float = 60.0
) -> JobCache:
    """Redis when a URL is given (shared by all processes; with a near copy of `near_bytes` compressed bytes
    for the API's event-loop reader to fill, if > 0), else memory."""
    if redis_url is None:
        return MemoryJobCache()
    near = NearCopy(near_bytes, near_ttl_s) if near_bytes > 0 else None
    return RedisJobCache(redis_client(redis_url, timeout_s), near)
