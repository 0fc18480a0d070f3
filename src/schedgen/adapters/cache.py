"""A cache of finished jobs' JSON documents: Redis shared by every process, or memory in one process.

Only documents of finished jobs (completed, failed) are stored, with ``add`` (set if absent). Whoever
changes a finished job afterwards (deletion, expiry, an operator's retry) calls ``mark_changed``, which
overwrites the entry with a short-lived marker: a reader that loaded the old row before the change cannot
store it over the marker, and readers go to the database until the marker expires. So a read never
returns a status older than the last change, as long as no reader takes longer than the marker's lifetime
between its database read and its ``add`` (the marker outlives the statement timeout).

The cache is an optimisation: every error is logged and treated as a miss; it never fails a request.
``aget`` is ``get`` for the event loop (no thread hop): Redis is read there over redis.asyncio connections
of that loop, closed when the loop shuts down (or by ``aclose``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import redis.asyncio as aioredis
    from redis.asyncio.connection import AbstractConnection

log = logging.getLogger(__name__)

MARKER = b"\x00changed"  # a value no JSON document starts with
KEY_PREFIX = "schedgen:job-doc:"


class JobCache(Protocol):
    """Finished jobs' documents by job id."""

    def get(self, job_id: str) -> bytes | None:
        """The stored document, or None (absent, expired or marked changed)."""
        ...

    async def aget(self, job_id: str) -> bytes | None:
        """``get`` on the event loop, which it never blocks."""
        ...

    def add(self, job_id: str, document: bytes, ttl_s: float) -> None:
        """Store the document unless an entry or a change marker is already there."""
        ...

    def mark_changed(self, job_id: str, ttl_s: float) -> None:
        """Replace any entry with a change marker that blocks ``add`` for `ttl_s` seconds."""
        ...

    async def aclose(self) -> None:
        """Release what ``aget`` holds for the running event loop."""
        ...

    def close(self) -> None:
        """Release what the blocking methods hold."""
        ...


DEFAULT_MEMORY_BYTES = 4 * 1024 * 1024  # an embedded process keeps at most this much of documents


class MemoryJobCache:
    """JobCache in this process's memory: documents bounded in bytes (least recently used out first);
    change markers kept apart, never evicted for space, pruned once expired."""

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
            return document

    async def aget(self, job_id: str) -> bytes | None:
        """``get``: no I/O, so safe on the event loop."""
        return self.get(job_id)

    def add(self, job_id: str, document: bytes, ttl_s: float) -> None:
        """Store unless a live document or marker is there."""
        now = time.monotonic()
        with self._lock:
            if self._markers.get(job_id, now) > now:
                return
            entry = self._documents.get(job_id)
            if (entry is not None and entry[1] > now) or len(document) > self._max_bytes:
                return
            self._drop(job_id)
            self._documents[job_id] = (document, now + ttl_s)
            self._bytes += len(document)
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

    async def aclose(self) -> None:
        """Nothing to release."""

    def close(self) -> None:
        """Nothing to release."""

    def _drop(self, job_id: str) -> None:
        entry = self._documents.pop(job_id, None)
        if entry is not None:
            self._bytes -= len(entry[0])


_PRUNE_MARKERS_OVER = 1024  # expired markers are pruned when more than this many are kept


_QUIET_S = 10.0  # while reads keep failing, one warning per this many seconds


class RedisJobCache:
    """JobCache in Redis, shared by every API instance; errors and slow answers (`timeout_s`) are misses.

    The blocking methods share one client (any thread). ``aget`` uses connections of the running event loop
    (asyncio connections belong to the loop that opened them), made on first use there.
    """

    def __init__(self, url: str, timeout_s: float) -> None:
        import redis  # only in distributed mode

        self._url = url
        self._timeout_s = timeout_s
        self._redis = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        self._errors: tuple[type[Exception], ...] = (redis.RedisError, OSError)  # OSError: TimeoutError too
        self._loops: dict[asyncio.AbstractEventLoop, _LoopConnections] = {}
        self._loops_lock = threading.Lock()  # several threads may each run a loop
        self._quiet_until = 0.0  # failed reads are not logged until then (monotonic clock)
        self._unlogged = 0

    def get(self, job_id: str) -> bytes | None:
        """The stored document, or None."""
        try:
            value = self._redis.get(KEY_PREFIX + job_id)
        except self._errors as exc:
            self._missed(exc)
            return None
        return _document(value)

    async def aget(self, job_id: str) -> bytes | None:
        """``get`` on this event loop's connections, in at most `timeout_s`."""
        connections = self._loops.get(asyncio.get_running_loop()) or await self._open()
        try:
            async with asyncio.timeout(self._timeout_s):
                value = await connections.get(KEY_PREFIX + job_id)
        except self._errors as exc:
            self._missed(exc)
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

    def _missed(self, exc: Exception) -> None:
        """Log a failed read; while Redis keeps failing, one line per _QUIET_S (every GET would fail)."""
        now = time.monotonic()
        if now < self._quiet_until:
            self._unlogged += 1
            return
        unlogged, self._unlogged, self._quiet_until = self._unlogged, 0, now + _QUIET_S
        log.warning(  # a timeout's text is empty: the type says it
            "job cache unavailable (get): %s: %s (%d failed reads since the last warning)",
            type(exc).__name__,
            exc,
            unlogged,
        )

    async def aclose(self) -> None:
        """Close the running loop's connections now rather than when the loop shuts down."""
        connections = self._loops.get(asyncio.get_running_loop())
        if connections is not None:
            await connections.closer.aclose()

    def close(self) -> None:
        """Close the blocking client (each loop's connections close with their loop)."""
        self._redis.close()

    async def _open(self) -> _LoopConnections:
        """Connections for the running loop, closed when the loop shuts down its async generators."""
        import redis.asyncio as aioredis

        loop = asyncio.get_running_loop()
        # No socket_timeout: aget's asyncio.timeout bounds the whole call, and with one redis-py would wrap
        # each command in asyncio.wait_for (a task per command).
        factory = aioredis.ConnectionPool.from_url(self._url, socket_connect_timeout=self._timeout_s)
        connections = _LoopConnections(factory, self._errors)
        connections.closer = self._close_with_loop(loop, connections)
        with self._loops_lock:
            self._loops[loop] = connections
        # The first step registers the generator with the loop (sys.set_asyncgen_hooks): asyncio.run,
        # asyncio.Runner, anyio and uvicorn close it in loop.shutdown_asyncgens(), while the loop still runs.
        await anext(connections.closer)
        return connections

    async def _close_with_loop(
        self, loop: asyncio.AbstractEventLoop, connections: _LoopConnections
    ) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            with self._loops_lock:
                if self._loops.get(loop) is connections:
                    del self._loops[loop]
            await connections.close()


class _LoopConnections:
    """One event loop's idle Redis connections for GET.

    A pool of its own rather than a redis.asyncio client: the client's per-command machinery (pool locks,
    retries, observability hooks, event dispatch) costs more CPU than the command itself.
    """

    closer: AsyncGenerator[None, None]  # closes these connections when the loop shuts down

    def __init__(self, factory: aioredis.ConnectionPool, errors: tuple[type[Exception], ...]) -> None:
        self._factory = factory  # only makes connections: their class and options come from the URL
        self._errors = errors
        self._idle: list[AbstractConnection] = []
        self._closed = False

    async def get(self, key: str) -> object:
        """GET on an idle connection or a new one; a connection interrupted mid-command is closed."""
        connection = await self._take()
        try:
            await connection.send_command("GET", key)
            value = await connection.read_response()
        except BaseException:  # an error, a timeout or a cancellation: what is left unread is unknown
            await connection.disconnect(nowait=True)
            raise
        if self._closed:
            await connection.disconnect()
        else:
            self._idle.append(connection)
        return value

    async def close(self) -> None:
        """Close the idle connections; one in use is closed when its GET ends."""
        self._closed = True
        while self._idle:
            connection = self._idle.pop()
            try:
                await connection.disconnect()
            except Exception as exc:  # closing must not fail a shutdown
                log.warning("job cache connection did not close: %s: %s", type(exc).__name__, exc)

    async def _take(self) -> AbstractConnection:
        """An idle connection still open with nothing unread (EOF: the server closed it), else a new one."""
        while self._idle:
            connection = self._idle.pop()
            with contextlib.suppress(*self._errors):  # can_read raises once the connection is closed
                if not await connection.can_read():
                    return connection
            await connection.disconnect(nowait=True)
        return self._factory.connection_class(**self._factory.connection_kwargs)


def _document(value: object) -> bytes | None:
    """A stored value as a document: None for a miss or a change marker."""
    if not isinstance(value, bytes) or value == MARKER:
        return None
    return value


def build_job_cache(redis_url: str | None, timeout_s: float) -> JobCache:
    """Redis when a URL is given (shared by all processes), else memory."""
    if redis_url is None:
        return MemoryJobCache()
    return RedisJobCache(redis_url, timeout_s)
