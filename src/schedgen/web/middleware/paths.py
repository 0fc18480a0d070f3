"""Which requests the protective middleware treat specially: probes, metrics, admin, documentation."""

from __future__ import annotations

import hashlib

PROBE_PREFIXES = ("/health", "/metrics")  # never rate limited, blocked or given a session
ADMIN_PREFIX = "/api/admin"
ROUTE_KEY = "schedgen.route"  # a route template noted by a middleware that answered before routing
FEED_PREFIX = "/feeds/"  # issue 6: calendar apps read feeds; the token in the path is a secret
NO_SESSION_PREFIXES = (
    *PROBE_PREFIXES,
    ADMIN_PREFIX,
    "/api/docs",
    "/api/openapi.json",
    "/static",
    FEED_PREFIX.rstrip("/"),
)
JOBS_PREFIX = "/api/jobs"  # reading jobs needs no session: the upload that made them gave one


def is_probe(path: str) -> bool:
    """Health checks and metric scrapes."""
    return path in {"/metrics", "/health"} or path.startswith("/health/")


def needs_session(path: str, method: str = "GET") -> bool:
    """Whether a visitor without a session cookie gets one on this request (not on job reads or probes)."""
    if method in ("GET", "HEAD") and (path == JOBS_PREFIX or path.startswith(JOBS_PREFIX + "/")):
        return False
    return not any(path == p or path.startswith(p + "/") for p in NO_SESSION_PREFIXES)


def loggable_path(path: str) -> str:
    """The path as logs may show it: a feed's secret token is replaced."""
    return FEED_PREFIX + "<token>.ics" if path.startswith(FEED_PREFIX) else path


def feed_key(path: str) -> str:
    """The rate-limit key of a feed request: a hash of its token (never the token itself)."""
    return "feed:" + hashlib.sha256(path.encode()).hexdigest()[:32]
