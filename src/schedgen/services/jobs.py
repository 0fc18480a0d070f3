"""Use cases of parse jobs: accept an upload, process a job exactly once, read, delete and count jobs.

The database is the source of truth; the broker only carries job ids. Every step is safe to repeat: a job
is claimed with a compare-and-set, completed only by the worker that claimed it, and retried by
re-enqueueing its id after a backoff.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from schedgen.adapters.blobstore import BlobStore, DeferredDeletes
from schedgen.adapters.cache import JobCache
from schedgen.adapters.db import jobs as repo
from schedgen.adapters.db.engine import run_read, single_write
from schedgen.config import Settings
from schedgen.domain.events import Timetable
from schedgen.domain.jobs import Job, JobPriority, JobStatus, NewJob, QueueCounts, retry_delay_ms
from schedgen.errors import BlobNotFoundError, InputError, NotPdfError, QueueFullError, SchedgenError
from schedgen.parsing.limits import MAGIC_WINDOW, looks_like_pdf
from schedgen.rendering.contract import timetable_to_dict
from schedgen.services.job_heartbeats import Heartbeats
from schedgen.services.quotas import quota_exceeded

log = logging.getLogger(__name__)


class Queue(Protocol):
    """What jobs need of the queue."""

    def enqueue(self, job_id: str, priority: JobPriority = JobPriority.NORMAL, delay_ms: int = 0) -> None: ...


def new_worker_id() -> str:
    """Who claims jobs from this process: host, pid (an operator can find the process) and a random part
    (pids are reused, also across restarts)."""
    return f"{socket.gethostname()[:80]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class WaitingGauge:
    """The count of waiting jobs for upload backpressure, re-read at most once per `max_age_s` per process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value = 0
        self._read_at: float | None = None

    def get(self, read: Callable[[], int], max_age_s: float) -> int:
        """The cached count, or a fresh one from `read()` when the cached one is older than `max_age_s`."""
        now = time.monotonic()
        with self._lock:
            if self._read_at is not None and now - self._read_at < max_age_s:
                return self._value
        value = read()
        with self._lock:
            self._value, self._read_at = value, time.monotonic()
        return value


@dataclass(frozen=True)
class JobDeps:
    """Everything the job use cases touch, wired by bootstrap."""

    settings: Settings
    sessions: sessionmaker[Session]
    blobs: BlobStore
    queue: Queue
    parse: Callable[[bytes], Timetable]
    clock: Callable[[], dt.datetime]
    worker_id: str = field(default_factory=new_worker_id)
    statements: sa.Engine | None = None  # engine.statement_engine for single statements; None: `sessions`
    waiting: WaitingGauge = field(default_factory=WaitingGauge)
    cache: JobCache | None = None  # finished jobs' documents; None: every read goes to the database
    deletes: DeferredDeletes | None = None  # batches PDF deletes (S3); None: delete each one at once
    on_cache: Callable[[bool], None] | None = None  # metrics: each cache lookup, hit (True) or miss
    heartbeats: Heartbeats = field(default_factory=Heartbeats)  # renews claims while jobs run
    observer: Callable[[str, Job, str | None, dt.datetime], None] | None = (
        None  # metrics: (event, job, kind, now)
    )

    @property
    def statement_engine(self) -> sa.Engine:
        """The engine for single statements: reads (run_read) and single writes (single_write)."""
        if self.statements is not None:
            return self.statements
        engine: sa.Engine = self.sessions.kw["bind"]
        return engine


def _observe(deps: JobDeps, event: str, job: Job, kind: str | None = None) -> None:
    if deps.observer is not None:
        deps.observer(event, job, kind, deps.clock())


def _checked(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Pass chunks through, refusing the stream as soon as its first KiB shows it is not a PDF."""
    head = b""
    checked = False
    for chunk in chunks:
        if not checked:
            head += chunk[: MAGIC_WINDOW - len(head)]
            if looks_like_pdf(head):
                checked = True
            elif len(head) >= MAGIC_WINDOW:
                raise NotPdfError()
        yield chunk
    if not checked and not looks_like_pdf(head):
        raise NotPdfError()


def _blob_key(job_id: str, now: dt.datetime) -> str:
    return f"uploads/{now:%Y/%m/%d}/{job_id}.pdf"


def submit_upload(
    deps: JobDeps,
    *,
    owner: str,
    filename: str,
    chunks: Iterable[bytes],
    priority: JobPriority = JobPriority.NORMAL,
) -> Job:
    """Store one uploaded PDF (streamed, size- and magic-checked) and queue a job to parse it."""
    now = deps.clock()
    waiting = deps.waiting.get(
        lambda: run_read(deps.statement_engine, lambda session: repo.count_waiting(session, now=now)),
        deps.settings.backpressure_refresh_s,
    )
    if waiting >= deps.settings.queue_backpressure_limit:
        raise QueueFullError()
    job_id = str(uuid.uuid4())
    key = _blob_key(job_id, now)
    size = deps.blobs.put(key, _checked(chunks), max_bytes=deps.settings.max_upload_bytes)
    new = NewJob(
        id=job_id,
        owner=owner,
        filename=filename[:255],
        blob_key=key,
        size=size,
        created_at=now,
        expires_at=now + dt.timedelta(days=deps.settings.job_row_retention_days),
        priority=priority,
    )
    limit = deps.settings.max_stored_bytes_per_user  # quota (issue 5)
    try:
        with single_write(deps.statement_engine) as connection:
            job = repo.insert_job_within_quota(connection, new, limit)
        if job is None:
            raise run_read(
                deps.statement_engine, lambda session: quota_exceeded(session, deps.settings, owner, size)
            )
    except Exception:
        try:
            deps.blobs.delete(key)  # nothing half-written: no orphan blob without its job
        except SchedgenError:
            log.warning("could not delete the PDF of unsaved job %s; the sweep will", job_id)
        raise
    try:
        deps.queue.enqueue(job.id, priority)
    except SchedgenError:
        log.warning("job %s saved but not queued; the reconciler will queue it", job.id)
    _observe(deps, "submitted", job)
    return job


def process_job(deps: JobDeps, job_id: str) -> None:
    """Parse one job's PDF; safe to call twice or concurrently (only the claiming worker may finish it)."""
    settings, worker = deps.settings, deps.worker_id
    stale = dt.timedelta(milliseconds=settings.worker_heartbeat_timeout_ms)
    with single_write(deps.statement_engine) as session:
        job = repo.claim_job(session, job_id, now=deps.clock(), worker=worker, stale_after=stale)
    if job is None:
        return  # finished, deleted, not yet due, or being processed by a live worker
    log.debug("processing job %s (attempt %d)", job.id, job.attempts)
    beat_s = settings.worker_heartbeat_timeout_ms / 3000  # renew three times per timeout
    try:
        if job.blob_key is None:
            raise InputError("The uploaded file is gone; please upload it again.")
        with deps.heartbeats.running(job.id, lambda ids: _renew_claims(deps, ids), beat_s):
            timetable = deps.parse(deps.blobs.get(job.blob_key))
    except (InputError, BlobNotFoundError) as exc:  # the file itself is the problem: retrying cannot help
        _finish_failed(deps, job, exc)
        return
    except SchedgenError as exc:
        _retry_or_fail(deps, job, exc)
        return
    except Exception:  # anything unexpected is treated as transient: retried, then failed
        log.exception("job %s: unexpected error", job.id)
        _retry_or_fail(deps, job, SchedgenError())
        return
    with single_write(deps.statement_engine) as session:
        done = repo.complete_job(
            session,
            job.id,
            worker=worker,
            kind=timetable.kind.value,
            result=timetable_to_dict(timetable),
            now=deps.clock(),
        )
    if done:
        _observe(deps, "completed", job, timetable.kind.value)
        _drop_blob(deps, job)
        log.info("job %s completed: %s, %d events", job.id, timetable.kind.value, len(timetable.events))


def _renew_claims(deps: JobDeps, job_ids: list[str]) -> None:
    with single_write(deps.statement_engine) as session:
        repo.touch_jobs(session, job_ids, worker=deps.worker_id, now=deps.clock())


def _drop_blob(deps: JobDeps, job: Job) -> None:
    """Delete the PDF of a finished job (its row forgot the key when it finished; the sweep is the fallback)."""
    if job.blob_key is None:
        return
    if deps.deletes is not None:
        deps.deletes.submit(job.blob_key)
        return
    try:
        deps.blobs.delete(job.blob_key)
    except SchedgenError:
        log.warning("could not delete the PDF of job %s; the sweep will", job.id)


def _finish_failed(deps: JobDeps, job: Job, error: SchedgenError) -> None:
    with single_write(deps.statement_engine) as session:
        done = repo.fail_job(
            session, job.id, worker=deps.worker_id, code=error.code, message=error.message, now=deps.clock()
        )
    if done:
        _observe(deps, "failed", job)
        _drop_blob(deps, job)
        log.info("job %s failed: %s", job.id, error.code)


def _retry_or_fail(deps: JobDeps, job: Job, error: SchedgenError) -> None:
    settings = deps.settings
    if job.attempts > settings.job_max_retries:
        _finish_failed(deps, job, error)
        return
    delay = retry_delay_ms(job.attempts, settings.job_min_backoff_ms, settings.job_max_backoff_ms)
    now = deps.clock()
    with single_write(deps.statement_engine) as session:
        released = repo.release_job(
            session,
            job.id,
            worker=deps.worker_id,
            available_at=now + dt.timedelta(milliseconds=delay),
            code=error.code,
            message=error.message,
            now=now,
        )
    if released:
        log.warning(
            "job %s attempt %d failed (%s); retrying in %d ms", job.id, job.attempts, error.code, delay
        )
        try:
            deps.queue.enqueue(job.id, job.priority, delay)
        except SchedgenError:
            log.warning("job %s not re-queued; the reconciler will queue it", job.id)


def get_job(deps: JobDeps, job_id: str) -> Job | None:
    """The job, or None."""
    return run_read(deps.statement_engine, lambda session: repo.get_job(session, job_id))


def peek_job_document(deps: JobDeps, job_id: str) -> bytes | None:
    """A finished job's document from an in-process cache, without any I/O (None: ask read_job_document).

    The lookup is counted, hit or miss, when the cache is in-process; a shared cache is not asked here.
    """
    cache = deps.cache
    if cache is None or not cache.local:
        return None
    document = cache.get(job_id)
    count_cache_lookup(deps, document is not None)
    return document


def count_cache_lookup(deps: JobDeps, hit: bool) -> None:
    """Count a job-cache lookup made outside these use cases (the API reads Redis from its event loop)."""
    if deps.on_cache is not None:
        deps.on_cache(hit)


def read_job_document(
    deps: JobDeps, job_id: str, render: Callable[[Job], bytes], *, cache_missed: bool = False
) -> bytes | None:
    """The job rendered by `render` (None if there is no such job); finished jobs' documents are cached.

    `cache_missed`: the caller has just looked in the cache and found nothing, so go to the database.
    """
    cache = deps.cache
    if cache is not None and not cache_missed:
        document = cache.get(job_id)
        count_cache_lookup(deps, document is not None)
        if document is not None:
            return document
    job = get_job(deps, job_id)
    if job is None:
        return None
    document = render(job)
    if cache is not None and job.status in _FINISHED:
        cache.add(job_id, document, deps.settings.job_cache_ttl_s)
    return document


_FINISHED = frozenset({JobStatus.COMPLETED, JobStatus.FAILED})


def forget_cached(deps: JobDeps, job_ids: Iterable[str]) -> None:
    """Call after changing finished jobs (deleted, expired, retried): readers must not see the old state."""
    if deps.cache is None:
        return
    for job_id in job_ids:
        deps.cache.mark_changed(job_id, deps.settings.job_cache_marker_s)


def delete_job(deps: JobDeps, job_id: str) -> bool:
    """Delete a job and its PDF; False if there was no such job."""
    with single_write(deps.statement_engine) as session:
        job = repo.delete_job(session, job_id)
    if job is None:
        return False
    forget_cached(deps, [job_id])
    if job.blob_key is not None:
        try:
            deps.blobs.delete(job.blob_key)
        except SchedgenError:
            log.warning("could not delete the PDF of deleted job %s; the sweep will", job_id)
    return True


def queue_counts(deps: JobDeps) -> QueueCounts:
    """Jobs by state (waiting, active, completed, failed, delayed)."""
    now = deps.clock()
    return run_read(deps.statement_engine, lambda session: repo.count_jobs(session, now=now))
