"""The service's one pure ASGI middleware: everything done around each request, in one layer.

In order: the client's address, TLS and request id (believed from SCHEDGEN_TRUSTED_PROXIES only), the time
limit (504 REQUEST_TIMEOUT), IP blocks (403), the session identity, rate limits (429) and the CSRF check
(403), then the app; afterwards the access line and the duration histogram, and the 500 for an exception no
handler caught. One send wrapper adds X-RateLimit-*, a new session cookie, the security headers and
X-Request-ID to the response start. This was eight stacked middleware, each a coroutine per request and
most a send wrapper per message; the answers are the same.
"""

from __future__ import annotations

import asyncio
import os
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from schedgen.adapters.logs import identity as identity_var
from schedgen.adapters.logs import request_id
from schedgen.errors import CsrfError, RequestTimeoutError, SchedgenError
from schedgen.web.context import CLIENT_KEY, VALID_ID, Client, parse_networks, resolve_client
from schedgen.web.errors import send_error
from schedgen.web.middleware.access import AccessLog, log_unhandled
from schedgen.web.middleware.blocking import refuse_if_blocked
from schedgen.web.middleware.paths import is_probe
from schedgen.web.middleware.ratelimit import RateLimits
from schedgen.web.middleware.runtime import Guards
from schedgen.web.middleware.security import CsrfCheck, SecurityHeaders, missing_from
from schedgen.web.middleware.session import IDENTITY_KEY, Sessions, set_cookie_header
from schedgen.web.middleware.timeout import Deadlines, log_timeout

HeaderList = list[tuple[bytes, bytes]]
CLIENT_CACHE_SIZE = 4096  # resolved clients by peer, TLS and forwarding headers (the oldest dropped first)
MAX_CACHED_FORWARDED = 256  # longer X-Forwarded-For values are resolved every time


class EdgeMiddleware:
    """Request id and client, time limit, guards (blocks, session, rate limits, CSRF), access log, headers."""

    def __init__(self, app: ASGIApp, guards: Guards) -> None:
        settings = guards.settings
        self.app = app
        self.guards = guards
        self.trusted = parse_networks(settings.trusted_proxies)
        self.force_tls = settings.tls
        self.deadlines = Deadlines(settings.request_timeout_s)
        self.security = SecurityHeaders(settings.hsts_max_age_s)
        self.access = AccessLog(guards.metrics)
        self.sessions = Sessions(guards)
        self.limits = RateLimits(guards)
        self.csrf = CsrfCheck(settings.allowed_origins)
        self._clients: dict[tuple[str, bool, bytes | None, bytes | None], Client] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client, rid = self._client_and_id(scope)
        scope[CLIENT_KEY] = client
        token = request_id.set(rid)
        start = time.perf_counter()
        security = self.security.of(scope["path"], client.tls)
        tail = (b"x-request-id", rid.encode())
        added: HeaderList = []  # what the guards add: X-RateLimit-*, a new session cookie
        status = 500
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status, started = message["status"], True
                headers = message.get("headers", [])
                message["headers"] = [*headers, *added, *missing_from(security, headers), tail]
            await send(message)

        deadline = self.deadlines.start()
        try:
            try:
                try:
                    await self._guarded(scope, receive, send_with_headers, client, added)
                finally:
                    expired = self.deadlines.end(deadline)
            except (TimeoutError, asyncio.CancelledError) as exc:
                if not self._timed_out(exc, expired):
                    raise
                log_timeout(self.deadlines.seconds, scope["path"])
                if started:  # the answer is half sent: the server closes the connection
                    if isinstance(exc, TimeoutError):
                        raise
                    raise TimeoutError from exc
                added.clear()
                await send_error(scope, send_with_headers, RequestTimeoutError())
        except Exception:
            log_unhandled(scope)
            if started:
                raise
            added.clear()
            await send_error(scope, send_with_headers, SchedgenError())
        finally:
            self.access.record(scope, status, time.perf_counter() - start)
            request_id.reset(token)

    def _timed_out(self, exc: BaseException, expired: bool) -> bool:
        """Whether the request ran out of time: our deadline's cancel, or a TimeoutError under a time limit."""
        if isinstance(exc, asyncio.CancelledError):
            return expired
        return self.deadlines.seconds > 0

    async def _guarded(
        self, scope: Scope, receive: Receive, send: Send, client: Client, added: HeaderList
    ) -> None:
        """IP blocks, the session identity, rate limits and the CSRF check; then the app."""
        probe = is_probe(scope["path"])  # health checks and scrapes are never blocked or limited
        if not probe and await refuse_if_blocked(self.guards, scope, send, client.ip):
            return
        who, fresh = self.sessions.identify(scope, client)
        scope[IDENTITY_KEY] = who
        token = identity_var.set(who)
        try:
            if fresh is not None:
                added.append((b"set-cookie", set_cookie_header(fresh, secure=client.tls)))
            if not probe and not await self.limits.admit(scope, send, added):
                return
            if self.csrf.refuses(scope):
                await send_error(scope, send, CsrfError())
                return
            await self.app(scope, receive, send)
        finally:
            identity_var.reset(token)

    def _client_and_id(self, scope: Scope) -> tuple[Client, str]:
        """Who sent the request (web/context.py's rules) and its request id (a trusted proxy's, or new)."""
        peer = (scope.get("client") or ("unknown", 0))[0]
        tls = scope.get("scheme") in ("https", "wss") or self.force_tls
        forwarded = proto = given = None
        if self.trusted:  # otherwise nobody's forwarding headers are believed: the peer, without parsing it
            for key, value in scope["headers"]:
                if key == b"x-forwarded-for" and forwarded is None:
                    forwarded = value
                elif key == b"x-forwarded-proto" and proto is None:
                    proto = value
                elif key == b"x-request-id" and given is None:
                    given = value
        cache_key = (peer, tls, forwarded, proto)
        client = self._clients.get(cache_key)
        if client is None:  # parsing addresses and matching networks costs ~15 µs an address
            client = resolve_client(scope, self.trusted, force_tls=self.force_tls)
            if forwarded is None or len(forwarded) <= MAX_CACHED_FORWARDED:
                if len(self._clients) >= CLIENT_CACHE_SIZE:
                    del self._clients[next(iter(self._clients))]
                self._clients[cache_key] = client
        rid = given.decode("latin-1") if given is not None and client.trusted_peer else ""
        return client, rid if VALID_ID.match(rid) else os.urandom(16).hex()
