"""JSON shapes of the admin endpoints."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel

from schedgen.adapters.blocklist import Block
from schedgen.domain.jobs import Job
from schedgen.services.admin import QueueDetail
from schedgen.web.schemas.jobs import QueueMetrics


class AdminJob(BaseModel):
    """A job as an operator sees it in a queue listing."""

    id: str
    status: str
    owner: str
    filename: str
    size: int
    attempts: int
    worker: str | None
    created_at: dt.datetime
    available_at: dt.datetime
    error_code: str | None

    @classmethod
    def of(cls, job: Job) -> AdminJob:
        """Build from a domain job."""
        return cls(
            id=job.id,
            status=job.status,
            owner=job.owner,
            filename=job.filename,
            size=job.size,
            attempts=job.attempts,
            worker=job.worker,
            created_at=job.created_at,
            available_at=job.available_at,
            error_code=job.error_code,
        )


class QueueDetailOut(BaseModel):
    """GET /api/admin/queue."""

    counts: QueueMetrics
    waiting: list[AdminJob]
    active: list[AdminJob]
    failed: list[AdminJob]

    @classmethod
    def of(cls, detail: QueueDetail) -> QueueDetailOut:
        """Build from the service's QueueDetail."""
        return cls(
            counts=QueueMetrics.of(detail.counts),
            waiting=[AdminJob.of(j) for j in detail.waiting],
            active=[AdminJob.of(j) for j in detail.active],
            failed=[AdminJob.of(j) for j in detail.failed],
        )


class BlockedIp(BaseModel):
    """A blocked address and when its block ends."""

    ip: str
    until: dt.datetime

    @classmethod
    def of(cls, block: Block) -> BlockedIp:
        """Build from the blocklist's Block."""
        return cls(ip=block.ip, until=dt.datetime.fromtimestamp(block.until, dt.UTC))
