"""Parse jobs: one uploaded PDF on its way from pending to completed or failed (pure model)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any


class JobStatus(StrEnum):
    """Where a job is in its life."""

    PENDING = "pending"  # waiting in the queue (or for its retry time: "delayed")
    PROCESSING = "processing"  # a worker has claimed it
    COMPLETED = "completed"  # events are in `result`
    FAILED = "failed"  # error_code/error_message say why

    @property
    def finished(self) -> bool:
        """Completed or failed: nothing will change it any more."""
        return self in (JobStatus.COMPLETED, JobStatus.FAILED)


class JobPriority(IntEnum):
    """Queue priority; a HIGH job overtakes waiting NORMAL ones (seeds: LOW=10, NORMAL=5, HIGH=1)."""

    HIGH = 1
    NORMAL = 5
    LOW = 10

    @property
    def queue(self) -> str:
        """The broker queue that carries jobs of this priority."""
        return f"parse-{self.name.lower()}"


@dataclass(frozen=True, slots=True)
class NewJob:
    """What an upload creates: a job to parse one stored PDF."""

    id: str
    owner: str
    filename: str
    blob_key: str
    size: int
    created_at: dt.datetime
    expires_at: dt.datetime
    priority: JobPriority = JobPriority.NORMAL


@dataclass(frozen=True, slots=True)
class Job:
    """A job as stored."""

    id: str
    status: JobStatus
    owner: str
    filename: str
    blob_key: str | None  # None once the PDF is deleted
    size: int
    priority: JobPriority
    attempts: int
    created_at: dt.datetime
    updated_at: dt.datetime
    available_at: dt.datetime  # a pending job is not picked up before this (retry backoff)
    expires_at: dt.datetime
    kind: str | None = None  # lectures | tests | exams, once parsed
    result: dict[str, Any] | None = field(default=None)  # the core contract {"kind", "events", ...}
    error_code: str | None = None
    error_message: str | None = None
    last_attempt_at: dt.datetime | None = None
    completed_at: dt.datetime | None = None
    worker: str | None = None  # who claimed it last


@dataclass(frozen=True, slots=True)
class QueueCounts:
    """Job counts by state, as the seeds' metrics endpoint reports them."""

    waiting: int
    active: int
    completed: int
    failed: int
    delayed: int

    @property
    def total(self) -> int:
        """All jobs known."""
        return self.waiting + self.active + self.completed + self.failed + self.delayed


def retry_delay_ms(attempt: int, min_backoff_ms: int, max_backoff_ms: int) -> int:
    """Exponential backoff before retry number `attempt` (1-based): min, 2*min, 4*min ... capped."""
    return int(min(max_backoff_ms, min_backoff_ms * 2 ** max(attempt - 1, 0)))
