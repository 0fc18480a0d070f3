"""Use case: the reconcile pass that keeps the database the source of truth.

It re-queues jobs the broker lost (Redis flushed, enqueue failed), hands jobs of dead workers to live ones,
fails jobs that ran past the job time limit, deletes expired job rows and sweeps uploads older than 24 h.
Every step is idempotent, so any number of processes may run it.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from schedgen.adapters.blobstore import sweep_blobs
from schedgen.adapters.db import jobs as repo
from schedgen.errors import JobTimeoutError, SchedgenError
from schedgen.services.jobs import JobDeps, forget_cached

log = logging.getLogger(__name__)

BATCH = 500  # rows handled per step and pass


@dataclass(frozen=True)
class ReconcileReport:
    """What one pass did."""

    requeued: int = 0
    reclaimed: int = 0
    timed_out: int = 0
    expired: int = 0
    swept: int = 0


def reconcile(deps: JobDeps) -> ReconcileReport:
    """One pass over the jobs table and the blob store."""
    settings, now = deps.settings, deps.clock()
    requeued = reclaimed = timed_out = 0
    with deps.sessions() as session:
        pending = repo.pending_job_ids(
            session, older_than=now - dt.timedelta(seconds=settings.stuck_pending_after_s), limit=BATCH
        )
        stale = repo.stale_processing_ids(
            session,
            older_than=now - dt.timedelta(milliseconds=settings.worker_heartbeat_timeout_ms),
            limit=BATCH,
        )
        stale_jobs = [job for job in (repo.get_job(session, i) for i in stale) if job is not None]
    for job_id in pending:
        requeued += _requeue(deps, job_id)
    limit = now - dt.timedelta(seconds=settings.job_timeout_s)
    for job in stale_jobs:
        if job.last_attempt_at is not None and job.last_attempt_at < limit:
            error = JobTimeoutError()
            with deps.sessions.begin() as session:
                timed_out += repo.fail_job(
                    session, job.id, worker=job.worker or "", code=error.code, message=error.message, now=now
                )
        else:
            reclaimed += _requeue(deps, job.id)
    expired = _expire(deps, now)
    swept = _sweep(deps, now)
    report = ReconcileReport(requeued, reclaimed, timed_out, expired, swept)
    if report != ReconcileReport():
        log.info("reconcile: %s", report)
    return report


def _requeue(deps: JobDeps, job_id: str) -> int:
    with deps.sessions.begin() as session:
        job = repo.get_job(session, job_id)
        if job is None:
            return 0
        repo.touch_pending(session, job_id, now=deps.clock())
    try:
        deps.queue.enqueue(job_id, job.priority)
    except SchedgenError:
        return 0
    return 1


def _expire(deps: JobDeps, now: dt.datetime) -> int:
    with deps.sessions.begin() as session:
        jobs = repo.expired_jobs(session, now=now, limit=BATCH)
        repo.delete_jobs(session, [job.id for job in jobs])
    forget_cached(deps, [job.id for job in jobs])
    for job in jobs:
        if job.blob_key is not None:
            try:
                deps.blobs.delete(job.blob_key)
            except SchedgenError:
                log.warning("could not delete the PDF of expired job %s; the sweep will", job.id)
    return len(jobs)


def _sweep(deps: JobDeps, now: dt.datetime) -> int:
    max_age = dt.timedelta(seconds=deps.settings.blob_max_age_s)
    try:
        swept = sweep_blobs(deps.blobs, now=now, max_age=max_age)
    except SchedgenError:
        log.warning("blob sweep stopped early: storage unavailable")
        return 0
    if swept:  # rows must not count swept PDFs (storage quota); no table scan on passes that swept nothing
        with deps.sessions.begin() as session:
            repo.forget_blobs_created_before(session, now - max_age)
    return swept
