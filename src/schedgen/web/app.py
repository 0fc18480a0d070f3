"""The FastAPI app factory: create_app(settings) wires the container, workers (embedded) and routes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from schedgen import __version__
from schedgen.adapters.cache import RedisJobCache, open_async_job_documents
from schedgen.adapters.logs import configure_logging
from schedgen.adapters.memory import freeze_startup_objects, limit_malloc_arenas
from schedgen.adapters.metrics import metrics_for_process
from schedgen.bootstrap import Container, build
from schedgen.config import Settings
from schedgen.web.api import admin, health, jobs
from schedgen.web.errors import install_error_handlers
from schedgen.web.middleware import Guards, install_middleware
from schedgen.web.pages import page_router, static_files
from schedgen.worker.runner import Reconciler, start_workers

log = logging.getLogger(__name__)


def create_app(settings: Settings, container: Container | None = None, *, server: bool = False) -> FastAPI:
    """A new app; builds its container at start-up unless one is given (tests).

    `server`: this app is the process's one app for its whole life (`schedgen serve`), so what exists once it
    has started is frozen out of the garbage collector's walks; never in tests, where apps come and go.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.api_threads
        owned = container is None
        app.state.container = container or await run_in_threadpool(build, settings)
        worker = reconciler = None
        if settings.embedded:
            if settings.in_process_workers > 0:
                worker = start_workers(app.state.container, settings.in_process_workers)
            reconciler = Reconciler(app.state.container)
            reconciler.start()
        app.state.worker = worker  # readiness checks that in-process workers run
        cache = app.state.container.jobs.cache
        if isinstance(cache, RedisJobCache):  # the shared Redis cache: read it (and fill its near copy) here
            app.state.job_documents = open_async_job_documents(
                settings.redis_url, settings.cache_timeout_s, near=cache.near
            )
        await guards.start()
        if server:
            freeze_startup_objects()  # before the first request: no request waits for it
        log.info(
            "schedgen %s ready (%s mode)", __version__, "embedded" if settings.embedded else "distributed"
        )
        try:
            yield
        finally:
            await guards.close()
            if app.state.job_documents is not None:
                await app.state.job_documents.close()
                app.state.job_documents = None
            if reconciler is not None:
                reconciler.stop()
            if worker is not None:
                worker.stop(timeout=10_000)
            if owned:
                app.state.container.close()

    app = FastAPI(
        title="schedgen",
        version=__version__,
        description="UP Schedule Generator: timetable PDFs to calendars",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
        # schedgen's metrics are Prometheus's (/metrics). FastAPI's own OpenTelemetry hooks stay off: with
        # them on, every request looked up the global OpenTelemetry providers and read the environment,
        # about a tenth of a cached status read's CPU.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    install_error_handlers(app)
    guards = Guards.build(settings, metrics_for_process())
    app.state.guards = guards
    app.state.job_documents = None  # the lifespan opens the event-loop reader of a Redis job cache
    app.add_middleware(jobs.CachedJobReads)  # added first, so it runs inside the edge middleware
    install_middleware(app, guards)
    app.include_router(jobs.router)  # first: routes are tried in order, and uploads and status polls are hot
    app.include_router(health.router)
    app.include_router(admin.router)
    app.include_router(page_router())
    app.mount("/static", static_files(), name="static")

    return app


def app_from_environment() -> FastAPI:
    """Factory for `uvicorn --factory` and multi-process serving: settings from the environment."""
    limit_malloc_arenas()  # each server process, before its threads start
    settings = Settings()
    configure_logging(settings)  # each server process logs JSON like the single-process server
    return create_app(settings, server=True)
