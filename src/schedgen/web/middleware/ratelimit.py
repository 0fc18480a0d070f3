"""Rate limits (seeds R5): uploads, status checks and feeds per identity (or feed), and a global cap.

Limited responses carry X-RateLimit-Limit/-Remaining/-Reset (Reset in epoch seconds); a refusal is a 429
RATE_LIMITED with Retry-After, logged with identity, IP and endpoint and counted in
rate_limit_rejections_total. A limiter store that fails lets requests through (fail open) or answers 503
RATE_LIMITER_UNAVAILABLE (fail closed), by configuration; it never makes a request wait.
"""

from __future__ import annotations

import logging
import math
import re
import time

from starlette.types import Scope, Send

from schedgen.adapters.ratelimit import Decision, LimiterUnavailable
from schedgen.errors import RateLimitedError, RateLimiterUnavailableError
from schedgen.web.context import client_of
from schedgen.web.errors import send_error
from schedgen.web.middleware.paths import FEED_PREFIX, ROUTE_KEY, feed_key, loggable_path
from schedgen.web.middleware.runtime import Guards
from schedgen.web.middleware.session import identity_of

log = logging.getLogger(__name__)

GLOBAL_KEY = "all"  # the global cap counts every request together
_STATUS = re.compile(r"^/api/jobs/[^/]+$")
_UNAVAILABLE_LOG_EVERY_S = 10.0  # while the store is down, say so at most this often


def classify(method: str, path: str) -> tuple[str, str] | None:
    """The per-identity limit of a request and its route template, or None (global cap only)."""
    if method == "POST" and path == "/api/uploads":
        return "uploads", "/api/uploads"
    if method in ("GET", "HEAD") and _STATUS.match(path):
        return "status", "/api/jobs/{job_id}"
    if method in ("GET", "HEAD") and path.startswith(FEED_PREFIX):
        return "feeds", "/feeds/{token}.ics"  # issue 6: limited per feed, not per address
    return None


def limit_headers(decision: Decision) -> list[tuple[bytes, bytes]]:
    """X-RateLimit-* headers of a decision."""
    return [
        (b"x-ratelimit-limit", str(decision.limit).encode()),
        (b"x-ratelimit-remaining", str(decision.remaining).encode()),
        (b"x-ratelimit-reset", str(math.ceil(decision.reset_at)).encode()),
    ]


class RateLimits:
    """Apply the configured limits; SCHEDGEN_RATE_LIMITS=off (no limiter) leaves every request alone."""

    def __init__(self, guards: Guards) -> None:
        self.guards = guards
        self._last_unavailable_log = 0.0

    async def admit(self, scope: Scope, send: Send, headers: list[tuple[bytes, bytes]]) -> bool:
        """Count the request; False if it was answered instead (429, or 503 when failing closed).

        An admitted request with a per-identity limit gets its X-RateLimit-* headers put at the front of
        `headers` (the response headers to add). Probes are never limited: the caller does not ask for them.
        """
        limiter = self.guards.limiter
        if limiter is None:
            return True
        kind = classify(scope["method"], scope["path"])
        decision: Decision | None = None
        try:
            if kind is not None:
                scope[ROUTE_KEY] = kind[1]
                key = feed_key(scope["path"]) if kind[0] == "feeds" else identity_of(scope)
                decision = await limiter.hit(kind[0], key)
                if not decision.allowed:
                    await self._reject(scope, send, kind[0], decision)
                    return False
            overall = await limiter.hit("global", GLOBAL_KEY, stats=False)
            if not overall.allowed:
                await self._reject(scope, send, "global", overall)
                return False
        except LimiterUnavailable as exc:
            self._log_unavailable(exc)
            if not self.guards.settings.rate_limit_fail_open:
                await send_error(scope, send, RateLimiterUnavailableError())
                return False
            decision = None
        if decision is not None:
            headers[:0] = limit_headers(decision)
        return True

    async def _reject(self, scope: Scope, send: Send, endpoint: str, decision: Decision) -> None:
        retry_after = max(1, math.ceil(decision.reset_at - time.time()))
        log.warning(
            "rate limit exceeded on %s",
            endpoint,
            extra={"endpoint": endpoint, "ip": client_of(scope).ip, "path": loggable_path(scope["path"])},
        )
        self.guards.metrics.rate_limit_rejections.labels(endpoint=endpoint).inc()
        headers = {k.decode(): v.decode() for k, v in limit_headers(decision)}
        headers["Retry-After"] = str(retry_after)
        error = RateLimitedError(f"Too many requests. Please try again in {retry_after} seconds.")
        await send_error(scope, send, error, headers)

    def _log_unavailable(self, exc: LimiterUnavailable) -> None:
        now = time.monotonic()
        if now - self._last_unavailable_log >= _UNAVAILABLE_LOG_EVERY_S:
            self._last_unavailable_log = now
            mode = "open" if self.guards.settings.rate_limit_fail_open else "closed"
            log.warning("rate limiter unavailable (%s); failing %s", exc, mode)
