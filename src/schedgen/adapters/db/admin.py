"""Queries for operators: the oldest jobs in a state, and putting a job back to pending (never commit)."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from schedgen.adapters.db.jobs import _to_job
from schedgen.adapters.db.tables import jobs_table
from schedgen.domain.jobs import Job, JobStatus


def oldest_jobs(session: Session, status: JobStatus, *, limit: int) -> list[Job]:
    """Up to `limit` jobs in `status`, oldest first."""
    jobs = jobs_table()
    stmt = sa.select(jobs).where(jobs.c.status == status.value).order_by(jobs.c.created_at).limit(limit)
    return [_to_job(row) for row in session.execute(stmt)]


def reset_to_pending(session: Session, job_id: str, *, now: dt.datetime) -> bool:
    """A failed or pending job that still has its PDF -> pending, due now, error cleared; False otherwise."""
    jobs = jobs_table()
    stmt = (
        sa.update(jobs)
        .where(
            jobs.c.id == job_id,
            jobs.c.status.in_([JobStatus.FAILED.value, JobStatus.PENDING.value]),
            jobs.c.blob_key.is_not(None),
        )
        .values(
            status=JobStatus.PENDING.value,
            available_at=now,
            updated_at=now,
            error_code=None,
            error_message=None,
            completed_at=None,
            attempts=0,
            worker=None,
        )
    )
    result = cast("sa.CursorResult[Any]", session.execute(stmt))
    return int(result.rowcount) == 1
