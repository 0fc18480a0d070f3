"""JSON shapes of jobs and queue metrics."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel

from schedgen.domain.jobs import Job, QueueCounts


class JobError(BaseModel):
    """Why a job failed (or why its last attempt did)."""

    code: str
    message: str


class JobSummary(BaseModel):
    """A job as listed after an upload."""

    id: str
    status: str
    filename: str


class UploadResponse(BaseModel):
    """202 body of POST /api/uploads: one job per file."""

    jobs: list[JobSummary]


class JobOut(BaseModel):
    """GET /api/jobs/{id}: state, timestamps, error, and the events once completed."""

    id: str
    status: str
    kind: str | None
    filename: str
    size: int
    attempts: int
    created_at: dt.datetime
    updated_at: dt.datetime
    last_attempt_at: dt.datetime | None
    completed_at: dt.datetime | None
    expires_at: dt.datetime
    error: JobError | None
    events: list[dict[str, Any]] | None
    warnings: list[dict[str, Any]] | None

    @classmethod
    def of(cls, job: Job) -> JobOut:
        """Build from a domain job (events only when completed)."""
        result = job.result if job.status == "completed" else None
        error = JobError(code=job.error_code, message=job.error_message or "") if job.error_code else None
        return cls(
            id=job.id,
            status=job.status,
            kind=job.kind,
            filename=job.filename,
            size=job.size,
            attempts=job.attempts,
            created_at=job.created_at,
            updated_at=job.updated_at,
            last_attempt_at=job.last_attempt_at,
            completed_at=job.completed_at,
            expires_at=job.expires_at,
            error=error,
            events=None if result is None else list(result.get("events", [])),
            warnings=None if result is None else list(result.get("warnings", [])),
        )


class QueueMetrics(BaseModel):
    """GET /api/jobs/metrics."""

    waiting: int
    active: int
    completed: int
    failed: int
    delayed: int
    total: int

    @classmethod
    def of(cls, counts: QueueCounts) -> QueueMetrics:
        """Build from domain counts."""
        return cls(
            waiting=counts.waiting,
            active=counts.active,
            completed=counts.completed,
            failed=counts.failed,
            delayed=counts.delayed,
            total=counts.total,
        )
