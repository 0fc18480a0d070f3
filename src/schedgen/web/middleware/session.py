"""Who is asking: the signed-in user (hook), else a signed anonymous session cookie, else the client address.

A visitor without a valid session cookie is given one (HttpOnly, SameSite=Lax, Secure over TLS); the new
value is also put into the request's Cookie header so routes see it at once. That first request is still
counted against the client address: an identity is only believed once the client sends it back.
"""

from __future__ import annotations

import hashlib
from http.cookies import SimpleCookie

from starlette.types import Scope

from schedgen.web.context import Client, client_of
from schedgen.web.middleware.paths import needs_session
from schedgen.web.middleware.runtime import Guards
from schedgen.web.middleware.signing import Signer

SESSION_COOKIE = "schedgen_session"  # also what web/api/jobs.py derives job owners from (owner_of)
SESSION_MAX_AGE_S = 30 * 86_400
IDENTITY_KEY = "schedgen.identity"  # where the identity is kept in the ASGI scope
OWNER_CACHE_SIZE = 4096  # Cookie header values whose owner is remembered (oldest forgotten first)
MAX_SESSION_VALUE = 128  # longer cookie values are not ours (ours are ~60 characters)
MAX_CACHED_COOKIE = 1024  # longer Cookie headers are parsed every time (bounds the cache's memory)


def owner_of(cookie_value: str) -> str:
    """The anonymous owner id of a session cookie value (the value itself is never stored or logged)."""
    return "anon:" + hashlib.sha256(cookie_value.encode()).hexdigest()[:32]


def signed_owner(value: str | None, signer: Signer) -> str | None:
    """The owner id of a session cookie value if its signature is valid, else None."""
    if value and len(value) <= MAX_SESSION_VALUE and signer.verify(value):
        return owner_of(value)
    return None


def identity_of(scope: Scope) -> str:
    """The identity Sessions resolved for the request, else the client address."""
    value = scope.get(IDENTITY_KEY)
    return value if isinstance(value, str) else "ip:" + client_of(scope).ip


def _cookie(cookie_headers: list[bytes]) -> str | None:
    """Our cookie's value in the first Cookie header that has it (None: absent, or a header is malformed)."""
    for value in cookie_headers:
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


class Sessions:
    """Resolves who is asking; gives visitors without a valid session cookie a new one."""

    def __init__(self, guards: Guards) -> None:
        self.guards = guards
        self._owners: dict[bytes, str | None] = {}  # Cookie header -> owner of its valid session, or None

    def identify(self, scope: Scope, client: Client) -> tuple[str, str | None]:
        """The request's identity, and the new session value to set (None: keep the cookie it has)."""
        user = self.guards.user_of(scope)
        if user is not None:
            return "user:" + user, None
        owner = self._owner(scope["headers"])
        if owner is not None:
            return owner, None
        if not needs_session(scope["path"], scope["method"]):
            return "ip:" + client.ip, None
        fresh = self.guards.signer.new_session()
        scope["headers"] = _with_cookie(list(scope["headers"]), fresh)
        return "ip:" + client.ip, fresh

    def _owner(self, headers: list[tuple[bytes, bytes]]) -> str | None:
        """The owner id of the request's session cookie if its signature is valid.

        Parsing the Cookie header and checking the signature cost ~50 µs; a client sends the same header on
        every request, so the answer is kept per header value (the one Cookie header HTTP/1.1 allows).
        """
        cookies = [value for key, value in headers if key == b"cookie"]
        if len(cookies) != 1 or len(cookies[0]) > MAX_CACHED_COOKIE:
            return self._check(_cookie(cookies))
        raw = cookies[0]
        try:
            return self._owners[raw]
        except KeyError:
            pass
        owner = self._check(_cookie(cookies))
        if len(self._owners) >= OWNER_CACHE_SIZE:
            del self._owners[next(iter(self._owners))]  # the oldest entry
        self._owners[raw] = owner
        return owner

    def _check(self, value: str | None) -> str | None:
        return signed_owner(value, self.guards.signer)
