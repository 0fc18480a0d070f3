"""Pure ASGI middleware of the service: access log and metrics, security headers, timeouts, IP blocks,
session identity, rate limits and CSRF checks, all in one layer (edge.py). install_middleware adds it."""

from __future__ import annotations

from fastapi import FastAPI

from schedgen.web.middleware.edge import EdgeMiddleware
from schedgen.web.middleware.runtime import Guards

__all__ = ["Guards", "install_middleware"]


def install_middleware(app: FastAPI, guards: Guards) -> None:
    """Add the service's middleware: one layer, inside FastAPI's error and exception middleware."""
    app.add_middleware(EdgeMiddleware, guards=guards)
