"""Server-side session data of Google sign-in (pending OAuth state, who is signed in): Redis or memory.

Redis (distributed mode) shares sessions between every API process; memory serves the one embedded process.
Values are small JSON objects that never hold a token: tokens live encrypted in the database.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from schedgen.adapters.redis_client import redis_client
from schedgen.config import Settings

PREFIX = "schedgen:google"  # Redis keys: <PREFIX>:<key>


class SessionStore(Protocol):
    """Small JSON values with a time to live."""

    def put(self, key: str, value: dict[str, Any], ttl_s: int) -> None: ...
    def get(self, key: str) -> dict[str, Any] | None: ...
    def pop(self, key: str) -> dict[str, Any] | None: ...  # get and delete at once (one-time state)
    def delete(self, key: str) -> None: ...


class MemorySessionStore:
    """Sessions kept in this process (embedded mode)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.values: dict[str, tuple[float, str]] = {}
        self.lock = threading.Lock()

    def put(self, key: str, value: dict[str, Any], ttl_s: int) -> None:
        """Store a value until ttl_s from now."""
        with self.lock:
            self.values[key] = (self.clock() + ttl_s, json.dumps(value))

    def get(self, key: str) -> dict[str, Any] | None:
        """The value, unless missing or expired."""
        with self.lock:
            return self._live(key)

    def pop(self, key: str) -> dict[str, Any] | None:
        """The value, removed."""
        with self.lock:
            value = self._live(key)
            self.values.pop(key, None)
            return value

    def delete(self, key: str) -> None:
        """Remove a value."""
        with self.lock:
            self.values.pop(key, None)

    def _live(self, key: str) -> dict[str, Any] | None:
        entry = self.values.get(key)
        if entry is None:
            return None
        if entry[0] <= self.clock():
            del self.values[key]
            return None
        loaded: dict[str, Any] = json.loads(entry[1])
        return loaded


class RedisSessionStore:
    """Sessions shared by every API process through Redis."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def put(self, key: str, value: dict[str, Any], ttl_s: int) -> None:
        """Store a value with a TTL."""
        self.client.set(f"{PREFIX}:{key}", json.dumps(value), ex=ttl_s)

    def get(self, key: str) -> dict[str, Any] | None:
        """The value, or None."""
        return _load(self.client.get(f"{PREFIX}:{key}"))

    def pop(self, key: str) -> dict[str, Any] | None:
        """The value, removed atomically (GETDEL)."""
        return _load(self.client.getdel(f"{PREFIX}:{key}"))

    def delete(self, key: str) -> None:
        """Remove a value."""
        self.client.delete(f"{PREFIX}:{key}")


def _load(raw: bytes | str | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    value = json.loads(raw)
    return value if isinstance(value, dict) else None


def build_session_store(settings: Settings) -> SessionStore:
    """Redis-backed when SCHEDGEN_REDIS_URL is set, else in memory."""
    if settings.redis_url is None:
        return MemorySessionStore()
    client = redis_client(settings.redis_url, 2)
    return RedisSessionStore(client)
