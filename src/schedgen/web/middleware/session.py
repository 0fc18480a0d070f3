"""Who is asking: the signed-in user (hook), else a signed anonymous session cookie, else the client address.

A visitor without a valid session cookie is given one (HttpOnly, SameSite=Lax, Secure over TLS); the new
value is also put into the request's Cookie header so routes see it at once. That first request is still
counted against the client address: an identity is only believed once the client sends it back.
"""

from __future__ import annotations

import hashlib
from http.cookies import SimpleCookie

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from schedgen.adapters.logs import identity as identity_var
from schedgen.web.context import client_of
from schedgen.web.middleware.paths import needs_session
from schedgen.web.middleware.runtime import Guards

SESSION_COOKIE = "schedgen_session"  # the same cookie web/api/jobs.py derives job owners from
SESSION_MAX_AGE_S = 30 * 86_400
IDENTITY_KEY = "schedgen.identity"  # where the identity is kept in the ASGI scope


def owner_of(cookie_value: str) -> str:
    """The anonymous owner id of a session cookie value (the value itself is never stored or logged)."""
    return "anon:" + hashlib.sha256(cookie_value.encode()).hexdigest()[:32]


def identity_of(scope: Scope) -> str:
    """The identity SessionMiddleware resolved, else the client address."""
    value = scope.get(IDENTITY_KEY)
    return value if isinstance(value, str) else "ip:" + client_of(scope).ip


def _cookie(scope: Scope) -> str | None:
    for key, value in scope["headers"]:
        if key == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # a malformed Cookie header is the same as none
                return None
            morsel = jar.get(SESSION_COOKIE)
            if morsel is not None:
                return morsel.value
    return None


def _with_cookie(headers: list[tuple[bytes, bytes]], value: str) -> list[tuple[bytes, bytes]]:
    """Request headers with our cookie replaced by `value` (other cookies kept)."""
    out = []
    others = []
    for key, raw in headers:
        if key != b"cookie":
            out.append((key, raw))
            continue
        for part in raw.decode("latin-1").split(";"):
            if part.strip() and not part.strip().startswith(SESSION_COOKIE + "="):
                others.append(part.strip())
    out.append((b"cookie", "; ".join([*others, f"{SESSION_COOKIE}={value}"]).encode("latin-1")))
    return out


def set_cookie_header(value: str, *, secure: bool) -> bytes:
    """The Set-Cookie header value of a session cookie."""
    parts = [
        f"{SESSION_COOKIE}={value}",
        "Path=/",
        f"Max-Age={SESSION_MAX_AGE_S}",
        "HttpOnly",
        "SameSite=Lax",
    ]
    if secure:
        parts.append("Secure")
    return "; ".join(parts).encode("latin-1")


class SessionMiddleware:
    """Resolve the identity of each request; give visitors without a valid session a new one."""

    def __init__(self, app: ASGIApp, guards: Guards) -> None:
        self.app = app
        self.guards = guards

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        user = self.guards.user_of(scope)
        value = _cookie(scope)
        fresh: str | None = None
        if user is not None:
            who = "user:" + user
        elif value is not None and len(value) <= 128 and self.guards.signer.verify(value):
            who = owner_of(value)
        else:
            who = "ip:" + client_of(scope).ip
            if needs_session(scope["path"], scope["method"]):
                fresh = self.guards.signer.new_session()
                scope["headers"] = _with_cookie(list(scope["headers"]), fresh)
        scope[IDENTITY_KEY] = who
        token = identity_var.set(who)
        secure = client_of(scope).tls

        async def send_with_cookie(message: Message) -> None:
            if fresh is not None and message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"set-cookie", set_cookie_header(fresh, secure=secure)),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_cookie)
        finally:
            identity_var.reset(token)
