"""Use cases for operators: queue detail, retrying and purging jobs."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from schedgen.adapters.db import admin as repo
from schedgen.domain.jobs import Job, JobStatus, QueueCounts
from schedgen.errors import JobNotFoundError, JobNotRetryableError, SchedgenError
from schedgen.services.jobs import JobDeps, delete_job, get_job, queue_counts

DETAIL_LIMIT = 50  # jobs listed per state


@dataclass(frozen=True)
class QueueDetail:
    """Counts by state and the oldest waiting, active and failed jobs."""

    counts: QueueCounts
    waiting: list[Job]
    active: list[Job]
    failed: list[Job]


def queue_detail(deps: JobDeps, limit: int = DETAIL_LIMIT) -> QueueDetail:
    """The queue as an operator sees it."""
    with deps.sessions() as session:
        return QueueDetail(
            counts=queue_counts(deps),
            waiting=repo.oldest_jobs(session, JobStatus.PENDING, limit=limit),
            active=repo.oldest_jobs(session, JobStatus.PROCESSING, limit=limit),
            failed=repo.oldest_jobs(session, JobStatus.FAILED, limit=limit),
        )


def retry_job(deps: JobDeps, job_id: str) -> Job:
    """Put a failed (or stuck pending) job whose PDF is still stored back on the queue, attempts reset."""
    with deps.sessions.begin() as session:
        reset = repo.reset_to_pending(session, job_id, now=deps.clock())
    job = get_job(deps, job_id)
    if job is None:
        raise JobNotFoundError()
    if not reset:
        raise JobNotRetryableError()
    with contextlib.suppress(SchedgenError):  # saved as pending: else the reconciler queues it
        deps.queue.enqueue(job.id, job.priority)
    return job


def purge_job(deps: JobDeps, job_id: str) -> None:
    """Delete a job, its result and its PDF."""
    if not delete_job(deps, job_id):
        raise JobNotFoundError()
