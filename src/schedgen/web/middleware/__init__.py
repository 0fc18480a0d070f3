"""Pure ASGI middleware of the service: access log and metrics, security headers, timeouts, IP blocks,
session identity, rate limits and CSRF checks. install_middleware(app, guards) puts them in order."""

from __future__ import annotations

from fastapi import FastAPI

from schedgen.web.context import RequestIdMiddleware, parse_networks
from schedgen.web.middleware.access import AccessLogMiddleware
from schedgen.web.middleware.blocking import BlockMiddleware
from schedgen.web.middleware.ratelimit import RateLimitMiddleware
from schedgen.web.middleware.runtime import Guards
from schedgen.web.middleware.security import CsrfMiddleware, SecurityHeadersMiddleware
from schedgen.web.middleware.session import SessionMiddleware
from schedgen.web.middleware.timeout import TimeoutMiddleware

__all__ = ["Guards", "install_middleware"]


def install_middleware(app: FastAPI, guards: Guards) -> None:
    """Add the middleware, innermost first (Starlette puts the last added outermost)."""
    settings = guards.settings
    app.add_middleware(CsrfMiddleware, allowed_origins=settings.allowed_origins)
    app.add_middleware(RateLimitMiddleware, guards=guards)
    app.add_middleware(SessionMiddleware, guards=guards)
    app.add_middleware(BlockMiddleware, guards=guards)
    app.add_middleware(TimeoutMiddleware, seconds=settings.request_timeout_s)
    app.add_middleware(SecurityHeadersMiddleware, hsts_max_age_s=settings.hsts_max_age_s)
    app.add_middleware(AccessLogMiddleware, guards=guards)
    app.add_middleware(
        RequestIdMiddleware, trusted_proxies=parse_networks(settings.trusted_proxies), force_tls=settings.tls
    )
