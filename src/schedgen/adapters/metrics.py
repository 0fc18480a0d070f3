"""Prometheus metrics: the metric objects (built by a factory), job and pool hooks, and the /metrics text.

Multiprocess mode: when PROMETHEUS_MULTIPROC_DIR is set before prometheus_client is first imported (the CLI
does this for `schedgen serve --workers N` and `schedgen worker`), every process writes its samples to files
in that folder and render() aggregates all of them. Metric objects are built on first use, once per
process (metrics_for_process); build_metrics(registry) gives tests an isolated set.
"""

from __future__ import annotations

import atexit
import datetime as dt
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, multiprocess
from prometheus_client import generate_latest as _generate_latest
from sqlalchemy import event

from schedgen.domain.jobs import Job, QueueCounts

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
PROCESSING_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)
UPLOAD_BUCKETS = (16e3, 64e3, 256e3, 512e3, 1e6, 2e6, 5e6, 10e6)  # bytes; real UP PDFs are ~50-500 kB


def multiprocess_dir() -> Path | None:
    """The multiprocess folder from the environment, or None (single-process mode)."""
    value = os.environ.get(MULTIPROC_ENV)
    return Path(value) if value else None


def prepare_multiprocess_dir() -> Path:
    """Make sure PROMETHEUS_MULTIPROC_DIR is set (a fresh temporary folder, removed at exit, if not given)."""
    existing = multiprocess_dir()
    if existing is not None:
        existing.mkdir(parents=True, exist_ok=True)
        return existing
    folder = Path(tempfile.mkdtemp(prefix="schedgen-metrics-"))
    os.environ[MULTIPROC_ENV] = str(folder)
    atexit.register(shutil.rmtree, folder, True)
    return folder


@dataclass(frozen=True)
class Metrics:
    """Every metric schedgen exports (names as the issue gives them, units in the name)."""

    registry: CollectorRegistry
    http_request_duration: Histogram
    pdf_jobs: Counter
    pdf_processing_duration: Histogram
    queue_jobs_waiting: Gauge
    queue_jobs_active: Gauge
    database_connections: Gauge
    cache_requests: Counter
    rate_limit_rejections: Counter
    upload_bytes: Histogram
    _cache_results: dict[bool, Counter] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Counted on every status read: .labels() checks and locks on each call, so the two series are kept.
        results = {
            True: self.cache_requests.labels(result="hit"),
            False: self.cache_requests.labels(result="miss"),
        }
        object.__setattr__(self, "_cache_results", results)

    def observe_job(self, event_name: str, job: Job, kind: str | None, now: dt.datetime) -> None:
        """JobDeps observer: 'submitted' (upload size), 'completed' / 'failed' (count, processing time)."""
        if event_name == "submitted":
            self.upload_bytes.observe(job.size)
            return
        label = kind or job.kind or "unknown"
        self.pdf_jobs.labels(type=label, status=event_name).inc()
        started = job.last_attempt_at or job.created_at
        self.pdf_processing_duration.labels(type=label).observe(max(0.0, (now - started).total_seconds()))

    def count_cache(self, hit: bool) -> None:
        """One job-status cache lookup (cache_requests_total{result})."""
        self._cache_results[hit].inc()

    def set_queue(self, counts: QueueCounts) -> None:
        """Queue gauges from the jobs table (set just before a scrape)."""
        self.queue_jobs_waiting.set(counts.waiting + counts.delayed)
        self.queue_jobs_active.set(counts.active)

    def instrument_engine(self, engine: sa.Engine) -> None:
        """Keep database_connections{state} up to date from the engine's pool events.

        This runs at every checkout and checkin (several times per request and per job), so the gauges and
        the pool's counters are looked up once, and a gauge is written only when its value changed.
        """
        pool = engine.pool
        readers = {state: getattr(pool, name, None) for state, name in POOL_STATES.items()}
        gauges = {state: self.database_connections.labels(state=state) for state in POOL_STATES}
        written: dict[str, int] = {}

        def update(*_: Any) -> None:
            for state, read in readers.items():
                value = _pool_number(read)
                if written.get(state) != value:
                    written[state] = value
                    gauges[state].set(value)

        for name in ("connect", "checkout", "checkin", "close", "invalidate"):
            event.listen(pool, name, update)

    def render(self) -> tuple[bytes, str]:
        """The exposition text for /metrics (every process's samples in multiprocess mode)."""
        folder = multiprocess_dir()
        if folder is None:
            return _generate_latest(self.registry), CONTENT_TYPE_LATEST
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(folder))  # type: ignore[no-untyped-call]
        return _generate_latest(registry), CONTENT_TYPE_LATEST


POOL_STATES = {"checked_out": "checkedout", "idle": "checkedin", "overflow": "overflow"}  # label: pool method


def _pool_number(method: Any) -> int:
    """A pool counter's value; 0 where the pool has no such counter (or a negative overflow)."""
    try:
        return max(0, int(method())) if callable(method) else 0
    except (TypeError, ValueError):
        return 0


def pool_stats(pool: Any) -> dict[str, int]:
    """Pool size, checked-out, checked-in (idle) and overflow connections (0 where a pool has no such idea)."""
    stats = {"size": _pool_number(getattr(pool, "size", None))}
    stats.update({state: _pool_number(getattr(pool, name, None)) for state, name in POOL_STATES.items()})
    return stats


def build_metrics(registry: CollectorRegistry | None = None) -> Metrics:
    """A new set of metric objects registered in `registry` (a fresh one by default)."""
    registry = registry if registry is not None else CollectorRegistry()
    return Metrics(
        registry=registry,
        http_request_duration=Histogram(
            "http_request_duration_seconds",
            "HTTP request duration by method, route template and status.",
            ["method", "route", "status"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        ),
        pdf_jobs=Counter(
            "pdf_jobs",
            "Parse jobs finished, by timetable type and status.",
            ["type", "status"],
            registry=registry,
        ),
        pdf_processing_duration=Histogram(
            "pdf_processing_duration_seconds",
            "Time from a job's claim to its completion or failure.",
            ["type"],
            buckets=PROCESSING_BUCKETS,
            registry=registry,
        ),
        queue_jobs_waiting=Gauge(
            "queue_jobs_waiting",
            "Jobs waiting (pending, including delayed retries).",
            registry=registry,
            multiprocess_mode="mostrecent",
        ),
        queue_jobs_active=Gauge(
            "queue_jobs_active", "Jobs being processed.", registry=registry, multiprocess_mode="mostrecent"
        ),
        database_connections=Gauge(
            "database_connections",
            "Database pool connections by state (checked_out, idle, overflow), summed over live processes.",
            ["state"],
            registry=registry,
            multiprocess_mode="livesum",
        ),
        cache_requests=Counter(
            "cache_requests", "Job-status cache lookups by result (hit, miss).", ["result"], registry=registry
        ),
        rate_limit_rejections=Counter(
            "rate_limit_rejections",
            "Requests refused with 429 by the rate limiter, by endpoint.",
            ["endpoint"],
            registry=registry,
        ),
        upload_bytes=Histogram(
            "upload_bytes", "Size of each uploaded PDF in bytes.", buckets=UPLOAD_BUCKETS, registry=registry
        ),
    )


_lock = threading.Lock()
_process_metrics: list[Metrics] = []  # at most one: the metrics of this process, built on first use


def metrics_for_process() -> Metrics:
    """This process's metrics, built on first call (one set per process: multiprocess files are per pid)."""
    with _lock:
        if not _process_metrics:
            _process_metrics.append(build_metrics())
            if multiprocess_dir() is not None:
                pid = os.getpid()
                atexit.register(multiprocess.mark_process_dead, pid)
        return _process_metrics[0]
