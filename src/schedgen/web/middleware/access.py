"""Access log and request metrics: one JSON log line and one histogram sample per request.

The route label is the route template ("/api/jobs/{job_id}"), never the raw URL, so the number of series
stays bounded. An exception no handler caught is logged with its stack trace and answered 500 in the shared
error shape here, inside the request-id context.
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from schedgen.errors import SchedgenError
from schedgen.web.context import client_of
from schedgen.web.errors import send_error
from schedgen.web.middleware.paths import ROUTE_KEY, loggable_path
from schedgen.web.middleware.runtime import Guards
from schedgen.web.middleware.session import IDENTITY_KEY

log = logging.getLogger("schedgen.access")
error_log = logging.getLogger(__name__)

UNMATCHED = "<unmatched>"  # route label of requests no route matched (404s, refused early)
# Successful reads that clients repeat every second or so (status polls, probes, scrapes): their access
# lines are DEBUG, so a page polling its jobs does not write a log line per second; they are still counted
# in http_request_duration_seconds, and errors on them are logged as usual.
QUIET_ROUTES = frozenset(
    {"/api/jobs/{job_id}", "/api/jobs/metrics", "/health", "/health/ready", "/health/db", "/metrics"}
)


def route_of(scope: Scope) -> str:
    """The template of the route that handled the request, or the one a middleware noted, or UNMATCHED."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    noted = scope.get(ROUTE_KEY)
    return noted if isinstance(noted, str) else UNMATCHED


class AccessLogMiddleware:
    """Log method, route, status, duration, client and identity; observe http_request_duration_seconds."""

    def __init__(self, app: ASGIApp, guards: Guards) -> None:
        self.app = app
        self.histogram = guards.metrics.http_request_duration

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status, started = message["status"], True
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except Exception:
            error_log.exception("unhandled error on %s %s", scope["method"], loggable_path(scope["path"]))
            if started:
                raise
            await send_error(scope, send_tracking, SchedgenError())
        finally:
            seconds = time.perf_counter() - start
            route = route_of(scope)
            self.histogram.labels(method=scope["method"], route=route, status=str(status)).observe(seconds)
            level = _level(scope["method"], route, status)
            if log.isEnabledFor(level):
                _log_access(scope, route, status, seconds, level)


def _level(method: str, route: str, status: int) -> int:
    """WARNING for server errors, DEBUG for successful polls of QUIET_ROUTES, INFO for everything else."""
    if status >= 500:
        return logging.WARNING
    if method in ("GET", "HEAD") and status < 400 and route in QUIET_ROUTES:
        return logging.DEBUG
    return logging.INFO


def _log_access(scope: Scope, route: str, status: int, seconds: float, level: int) -> None:
    log.log(
        level,
        "%s %s %d",
        scope["method"],
        route,
        status,
        extra={
            "method": scope["method"],
            "route": route,
            "path": loggable_path(scope["path"]),
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
            "ip": client_of(scope).ip,
            "identity": scope.get(IDENTITY_KEY),
        },
    )
