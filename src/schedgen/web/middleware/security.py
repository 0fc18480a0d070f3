"""Security headers on every response, and CSRF protection of state-changing form posts (Origin check).

CSRF: a cross-site page can make a browser send a form post (urlencoded, multipart or text/plain body)
with our cookies but cannot read the answer. Browsers send Origin on every such post, so an unsafe request
with a form content type whose Origin (or, failing that, Referer) is not this site or an allowed origin is
refused with 403 CSRF_FAILED. JSON and other non-form bodies, and DELETE/PUT/PATCH, need a CORS preflight
that we never grant, so a browser cannot send them cross-site: they are exempt. Requests with neither
Origin nor Referer come from non-browser clients (curl, scripts), which carry no ambient cookies, and pass.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from schedgen.errors import CsrfError
from schedgen.web.context import client_of
from schedgen.web.errors import send_error

# Pages are server-rendered with our own static JS (no inline scripts, no third-party origins).
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
# The Swagger UI page FastAPI serves loads its bundle from jsDelivr and starts it with an inline script.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' https://cdn.jsdelivr.net; img-src 'self' data: https://fastapi.tiangolo.com; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
DOCS_PATH = "/api/docs"
STATIC_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
)
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data", "text/plain")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


class SecurityHeadersMiddleware:
    """Add CSP, nosniff, Referrer-Policy, frame denial, and HSTS when the request came over TLS."""

    def __init__(self, app: ASGIApp, hsts_max_age_s: int = 31_536_000) -> None:
        self.app = app
        self.hsts = f"max-age={hsts_max_age_s}; includeSubDomains".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = DOCS_CSP if scope["path"] == DOCS_PATH else CSP
        extra = [*STATIC_HEADERS, (b"content-security-policy", csp.encode())]
        if client_of(scope).tls:
            extra.append((b"strict-transport-security", self.hsts))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [
                    *message.get("headers", []),
                    *((k, v) for k, v in extra if k not in present),
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _header(scope: Scope, name: bytes) -> str:
    return next((v.decode("latin-1") for k, v in scope["headers"] if k == name), "")


def _netloc(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    return parts.netloc.lower() if parts.scheme in ("http", "https") else ""


class CsrfMiddleware:
    """Refuse cross-site form posts (Origin/Referer not this host or an allowed origin)."""

    def __init__(self, app: ASGIApp, allowed_origins: str = "") -> None:
        self.app = app
        self.allowed = {_netloc(o.strip()) for o in allowed_origins.split(",") if o.strip()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS or not self._form(scope):
            await self.app(scope, receive, send)
            return
        source = _header(scope, b"origin") or _header(scope, b"referer")
        if source and not self._same_site(scope, source):
            await send_error(scope, send, CsrfError())
            return
        await self.app(scope, receive, send)

    @staticmethod
    def _form(scope: Scope) -> bool:
        kind = _header(scope, b"content-type").split(";")[0].strip().lower()
        return kind in FORM_TYPES or kind == ""

    def _same_site(self, scope: Scope, source: str) -> bool:
        origin = _netloc(source)
        if not origin:  # "null" (sandboxed frames, file://) or garbage
            return False
        host = _header(scope, b"host").lower()
        if client_of(scope).trusted_peer and (forwarded := _header(scope, b"x-forwarded-host")):
            host = forwarded.split(",")[0].strip().lower()
        return origin == host or origin in self.allowed
