"""Security headers for every response, and CSRF protection of state-changing form posts (Origin check).

CSRF: a cross-site page can make a browser send a form post (urlencoded, multipart or text/plain body)
with our cookies but cannot read the answer. Browsers send Origin on every such post, so an unsafe request
with a form content type whose Origin (or, failing that, Referer) is not this site or an allowed origin is
refused with 403 CSRF_FAILED. JSON and other non-form bodies, and DELETE/PUT/PATCH, need a CORS preflight
that we never grant, so a browser cannot send them cross-site: they are exempt. Requests with neither
Origin nor Referer come from non-browser clients (curl, scripts), which carry no ambient cookies, and pass.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.types import Scope

from schedgen.web.context import client_of, header_of

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


# Every name SecurityHeaders may add: a response that already has one of them keeps its own.
HEADER_NAMES = frozenset(
    {*(name for name, _ in STATIC_HEADERS), b"content-security-policy", b"strict-transport-security"}
)
Headers = tuple[tuple[bytes, bytes], ...]


class SecurityHeaders:
    """CSP, nosniff, Referrer-Policy, frame denial, and HSTS over TLS: the four sets built once, not per request."""

    def __init__(self, hsts_max_age_s: int = 31_536_000) -> None:
        hsts = (b"strict-transport-security", f"max-age={hsts_max_age_s}; includeSubDomains".encode())
        sets = []
        for csp in (CSP, DOCS_CSP):
            plain = (*STATIC_HEADERS, (b"content-security-policy", csp.encode()))
            sets += [plain, (*plain, hsts)]
        self._sets: tuple[Headers, ...] = tuple(sets)

    def of(self, path: str, tls: bool) -> Headers:
        """The headers a response to this request gets (the docs page has its own CSP; HSTS only over TLS)."""
        return self._sets[2 * (path == DOCS_PATH) + tls]


def missing_from(headers: Headers, response_headers: Iterable[tuple[bytes, bytes]]) -> Headers:
    """`headers` less those the response already carries (any case)."""
    names = [name.lower() for name, _ in response_headers]
    if HEADER_NAMES.isdisjoint(names):
        return headers
    return tuple((name, value) for name, value in headers if name not in names)


def _netloc(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    return parts.netloc.lower() if parts.scheme in ("http", "https") else ""


class CsrfCheck:
    """Refuses cross-site form posts (Origin/Referer neither this host nor an allowed origin)."""

    def __init__(self, allowed_origins: str = "") -> None:
        self.allowed = {_netloc(o.strip()) for o in allowed_origins.split(",") if o.strip()}

    def refuses(self, scope: Scope) -> bool:
        """Whether the request is a form post from another site (answered 403 CSRF_FAILED)."""
        if scope["method"] in SAFE_METHODS or not self._form(scope):
            return False
        source = header_of(scope, b"origin") or header_of(scope, b"referer")
        return bool(source) and not self._same_site(scope, source)

    @staticmethod
    def _form(scope: Scope) -> bool:
        kind = header_of(scope, b"content-type").split(";")[0].strip().lower()
        return kind in FORM_TYPES or kind == ""

    def _same_site(self, scope: Scope, source: str) -> bool:
        origin = _netloc(source)
        if not origin:  # "null" (sandboxed frames, file://) or garbage
            return False
        host = header_of(scope, b"host").lower()
        if client_of(scope).trusted_peer and (forwarded := header_of(scope, b"x-forwarded-host")):
            host = forwarded.split(",")[0].strip().lower()
        return origin == host or origin in self.allowed
