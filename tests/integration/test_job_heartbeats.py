"""A slow but live job keeps its claim: the worker renews it while the job runs, so nobody re-claims it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from schedgen.adapters.db import jobs as repo
from schedgen.bootstrap import Container, build
from schedgen.config import Settings
from schedgen.domain.events import Kind, Timetable
from schedgen.domain.jobs import JobStatus
from schedgen.services.job_heartbeats import Heartbeats
from schedgen.services.jobs import get_job, process_job, submit_upload
from tests.support.waiting import wait_for

PDF = b"%PDF-1.4\n% slow\n%%EOF\n"
TIMEOUT_MS = 300  # heartbeat timeout: a claim older than this belongs to a dead worker


class SlowParse:
    """A parse that runs until the test releases it."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()

    def __call__(self, data: bytes) -> Timetable:
        self.started.set()
        assert self.release.wait(30)
        return Timetable(Kind.EXAMS, ())


@pytest.fixture
def container(tmp_path: Path) -> Iterator[Container]:
    built = build(Settings(data_dir=tmp_path / "data", worker_heartbeat_timeout_ms=TIMEOUT_MS))
    yield built
    built.close()


def test_a_running_job_is_renewed_and_cannot_be_reclaimed(container: Container) -> None:
    slow = SlowParse()
    deps = dataclasses.replace(container.jobs, parse=slow, worker_id="live-worker")
    job = submit_upload(deps, owner="o", filename="s.pdf", chunks=[PDF])
    runner = threading.Thread(target=process_job, args=(deps, job.id))
    runner.start()
    try:
        assert slow.started.wait(30)
        claimed = get_job(deps, job.id)
        assert claimed is not None
        assert claimed.status is JobStatus.PROCESSING
        # Wait until the claim has been renewed after the timeout would have made it stale.
        stale_at = claimed.updated_at + dt.timedelta(milliseconds=TIMEOUT_MS)
        renewed = wait_for(lambda: (j := get_job(deps, job.id)) and j.updated_at > stale_at and j, timeout=10)
        with container.sessions.begin() as session:
            stolen = repo.claim_job(
                session,
                job.id,
                now=renewed.updated_at + dt.timedelta(milliseconds=TIMEOUT_MS // 2),
                worker="other-worker",
                stale_after=dt.timedelta(milliseconds=TIMEOUT_MS),
            )
        assert stolen is None  # the live worker still holds it
    finally:
        slow.release.set()
        runner.join(30)
    done = get_job(deps, job.id)
    assert done is not None
    assert (done.status, done.attempts, done.worker) == (JobStatus.COMPLETED, 1, "live-worker")


def test_heartbeats_renew_only_running_jobs_and_the_thread_ends_when_idle() -> None:
    beats = Heartbeats()
    renewed: list[list[str]] = []
    got_two = threading.Event()

    def renew(ids: list[str]) -> None:
        renewed.append(ids)
        if ids == ["a", "b"]:
            got_two.set()

    with beats.running("a", renew, 0.01), beats.running("b", renew, 0.01):
        assert got_two.wait(10)
    wait_for(lambda: beats._thread is None, timeout=10)  # no job left: the thread has ended
    assert all(set(ids) <= {"a", "b"} for ids in renewed)
