"""Access log and request metrics: one JSON log line and one histogram sample per request.

The route label is the route template ("/api/jobs/{job_id}"), never the raw URL, so the number of series
stays bounded. An exception no handler caught is logged here with its stack trace (by the middleware that
answers it 500 inside the request-id context).
"""

from __future__ import annotations

import logging

from prometheus_client import Histogram
from starlette.types import Scope

from schedgen.adapters.metrics import Metrics
from schedgen.web.context import client_of
from schedgen.web.middleware.paths import ROUTE_KEY, loggable_path
from schedgen.web.middleware.session import IDENTITY_KEY

log = logging.getLogger("schedgen.access")
error_log = logging.getLogger(__name__)

MAX_SERIES = 2048  # labelled histograms kept at hand (methods and statuses come from clients)
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


class AccessLog:
    """Observe http_request_duration_seconds and write the access line of each request."""

    def __init__(self, metrics: Metrics) -> None:
        self.histogram = metrics.http_request_duration
        # Labelled histograms by (method, route, status): .labels() checks and locks on every call (~4 µs).
        self._series: dict[tuple[str, str, int], Histogram] = {}

    def record(self, scope: Scope, status: int, seconds: float) -> None:
        """One sample and (at its level) one log line for a finished request."""
        method = scope["method"]
        route = route_of(scope)
        series = self._series.get((method, route, status))
        if series is None:
            series = self.histogram.labels(method=method, route=route, status=str(status))
            if len(self._series) < MAX_SERIES:
                self._series[method, route, status] = series
        series.observe(seconds)
        level = _level(method, route, status)
        if log.isEnabledFor(level):
            _log_access(scope, route, status, seconds, level)


def log_unhandled(scope: Scope) -> None:
    """Log the exception being handled (an error no handler caught) with its stack trace."""
    error_log.exception("unhandled error on %s %s", scope["method"], loggable_path(scope["path"]))


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
