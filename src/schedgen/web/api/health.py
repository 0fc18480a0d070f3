"""Health (seeds R6.1): /health liveness, /health/ready dependencies, /health/db pool; and /metrics.

Every readiness check runs on a small thread pool of its own with a time limit, so a hung dependency
makes its check fail (503 naming it) instead of making the probe hang: the answer always comes within
a few seconds (well under 5 s with the default 2 s per check; checks run concurrently).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from schedgen.adapters.bearer import metrics_allowed
from schedgen.adapters.heartbeats import live_workers
from schedgen.adapters.metrics import metrics_for_process, pool_stats
from schedgen.bootstrap import Container
from schedgen.errors import NotReadyError, SchedgenError, UnauthorizedError
from schedgen.services.jobs import queue_counts
from schedgen.web.errors import error_response
from schedgen.web.middleware.runtime import Guards

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


def _container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


def _executor(request: Request) -> concurrent.futures.ThreadPoolExecutor:
    guards: Guards = request.app.state.guards
    if guards.check_pool is None:  # the app's lifespan did not run (a bare test client)
        guards.check_pool = concurrent.futures.ThreadPoolExecutor(1, "schedgen-health")
    return guards.check_pool


def _ping_database(container: Container) -> None:
    with container.engine.connect() as connection:
        connection.execute(sa.text("SELECT 1"))


def _check_workers(request: Request) -> Callable[[], None]:
    container = _container(request)
    worker = getattr(request.app.state, "worker", None)

    def check() -> None:
        if container.settings.embedded:
            threads = getattr(worker, "workers", [])
            if not any(t.is_alive() for t in threads):
                raise RuntimeError("no in-process worker running")
            return
        client = getattr(container.broker, "client", None)
        if client is None or live_workers(client, container.settings.worker_heartbeat_timeout_ms) < 1:
            raise RuntimeError("no live worker heartbeat")

    return check


async def _run(request: Request, name: str, check: Callable[[], None]) -> tuple[str, str | None, float]:
    """Run one check with the time limit: (name, None or why it failed, milliseconds)."""
    timeout = _container(request).settings.health_check_timeout_s
    loop = asyncio.get_running_loop()
    start = time.perf_counter()
    try:
        await asyncio.wait_for(loop.run_in_executor(_executor(request), check), timeout)
        problem = None
    except TimeoutError:
        problem = f"no answer within {timeout:g} s"
    except SchedgenError as exc:
        problem = exc.code
    except Exception as exc:  # any failure of a dependency is a failed check, reported by type only
        problem = str(exc) if isinstance(exc, RuntimeError) else type(exc).__name__
    return name, problem, round((time.perf_counter() - start) * 1000, 1)


def _not_ready(request: Request, failed: dict[str, str]) -> JSONResponse:
    details = ", ".join(f"{name} ({why})" for name, why in failed.items())
    error = NotReadyError(f"Not ready: {details}.")
    return error_response(request, 503, error.code, error.message)


@router.get("/health", summary="Liveness: the process answers")
async def health() -> JSONResponse:
    """Always 200 while the process serves requests."""
    return JSONResponse({"status": "ok"})


@router.get("/health/ready", summary="Readiness: database, Redis, blob store and a live worker")
async def ready(request: Request) -> JSONResponse:
    """200 with each check's time, or 503 NOT_READY naming every failed dependency."""
    container = _container(request)
    checks: dict[str, Callable[[], None]] = {
        "database": lambda: _ping_database(container),
        "blobstore": container.blobs.check,
        "workers": _check_workers(request),
    }
    if not container.settings.embedded:
        checks["redis"] = container.queue.check
    results = await asyncio.gather(*(_run(request, name, check) for name, check in checks.items()))
    failed = {name: why for name, why, _ in results if why is not None}
    if failed:
        return _not_ready(request, failed)
    return JSONResponse({"status": "ok", "checks": {name: {"ms": ms} for name, _, ms in results}})


@router.get("/health/db", summary="Database pool: size, checked out, overflow")
async def database(request: Request) -> JSONResponse:
    """The pool's numbers, after a SELECT 1 with the time limit (503 NOT_READY if it fails)."""
    container = _container(request)
    name, problem, ms = await _run(request, "database", lambda: _ping_database(container))
    if problem is not None:
        return _not_ready(request, {name: problem})
    return JSONResponse({"status": "ok", "ms": ms, "pool": pool_stats(container.engine.pool)})


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Every metric of every process of this service (multiprocess mode), in Prometheus text format."""
    container = _container(request)
    if not metrics_allowed(container.settings.metrics_token, request.headers.get("authorization", "")):
        raise UnauthorizedError("A valid metrics token is required.")
    process_metrics = metrics_for_process()
    try:
        counts: Any = await asyncio.wait_for(run_in_threadpool(queue_counts, container.jobs), 2.0)
        process_metrics.set_queue(counts)
    except Exception as exc:  # the queue gauges keep their last value when the database cannot answer
        log.warning("queue gauges not updated: %s", type(exc).__name__)
    body, content_type = process_metrics.render()
    return Response(body, media_type=content_type)
