"""Queue behaviour in embedded mode: priorities are honoured and the processing-rate cap holds."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from schedgen.bootstrap import Container, build
from schedgen.config import Settings
from schedgen.domain.jobs import Job, JobPriority
from schedgen.services.jobs import get_job, submit_upload
from schedgen.worker.runner import start_workers
from tests.support.waiting import wait_for


@pytest.fixture
def make_container(tmp_path: Path) -> Iterator[Callable[..., Container]]:
    built: list[Container] = []

    def make(**overrides: Any) -> Container:
        built.append(build(Settings(data_dir=tmp_path / "data", **overrides)))
        return built[-1]

    yield make
    for container in built:
        container.close()


def finished_jobs(container: Container, ids: list[str]) -> list[Job] | None:
    jobs = [get_job(container.jobs, job_id) for job_id in ids]
    done = [job for job in jobs if job is not None and job.status in ("completed", "failed")]
    return done if len(done) == len(ids) else None


def test_a_high_priority_job_overtakes_waiting_normal_ones(
    make_container: Callable[..., Container], real_pdfs: dict[str, bytes]
) -> None:
    container = make_container()
    normal = [
        submit_upload(container.jobs, owner="o", filename=f"{n}.pdf", chunks=[real_pdfs["lectures"]]).id
        for n in range(12)
    ]
    high = submit_upload(
        container.jobs,
        owner="o",
        filename="urgent.pdf",
        chunks=[real_pdfs["exams"]],
        priority=JobPriority.HIGH,
    ).id
    worker = start_workers(container, threads=1)
    try:
        jobs = wait_for(lambda: finished_jobs(container, [*normal, high]))
    finally:
        worker.stop(timeout=10_000)
    order = [job.id for job in sorted(jobs, key=lambda job: job.completed_at)]
    # Only the few NORMAL messages the worker had already prefetched may finish first.
    assert order.index(high) <= 3, order.index(high)
    assert all(job.status == "completed" for job in jobs)


def test_processing_rate_cap_spaces_jobs_out(
    make_container: Callable[..., Container], real_pdfs: dict[str, bytes]
) -> None:
    container = make_container(processing_rate_per_s=1)
    ids = [
        submit_upload(container.jobs, owner="o", filename=f"{n}.pdf", chunks=[real_pdfs["exams"]]).id
        for n in range(3)
    ]
    worker = start_workers(container, threads=2)
    try:
        jobs = wait_for(lambda: finished_jobs(container, ids))
    finally:
        worker.stop(timeout=10_000)
    assert all(job.status == "completed" for job in jobs)
    starts = sorted(job.last_attempt_at for job in jobs)
    # At most one job starts per one-second window, so three starts span more than a second.
    assert (starts[-1] - starts[0]).total_seconds() >= 1.0
