"""API + separate worker processes on PostgreSQL, Redis and S3: jobs complete exactly once, whatever dies."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from schedgen.bootstrap import Container, build
from schedgen.config import Settings
from schedgen.web.app import create_app
from tests.support.waiting import wait_for

SCHEDGEN = str(Path(sys.executable).with_name("schedgen"))


@pytest.fixture
def settings(tmp_path: Path, postgres_url: str, redis_url: str, s3_endpoint: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=postgres_url,
        redis_url=redis_url,
        s3_endpoint_url=s3_endpoint,
        s3_bucket=f"uploads-{uuid.uuid4().hex[:10]}",
        s3_access_key="test",
        s3_secret_key="test",
        reconcile_interval_s=0.5,
        worker_heartbeat_timeout_ms=3_000,
        stuck_pending_after_s=2,
        job_min_backoff_ms=200,
    )


def _env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    for name in (
        "data_dir",
        "database_url",
        "redis_url",
        "s3_endpoint_url",
        "s3_bucket",
        "s3_access_key",
        "s3_secret_key",
        "reconcile_interval_s",
        "worker_heartbeat_timeout_ms",
        "stuck_pending_after_s",
        "job_min_backoff_ms",
    ):
        value = getattr(settings, name)
        secret = getattr(value, "get_secret_value", None)
        env[f"SCHEDGEN_{name.upper()}"] = str(secret() if secret else value)
    return env


@pytest.fixture
def container(settings: Settings) -> Iterator[Container]:
    built = build(settings, migrate=True)
    yield built
    built.close()


@pytest.fixture
def api(settings: Settings, container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(settings, container)) as client:
        yield client


class Workers:
    """`schedgen worker` as a real process tree, stopped at the end of the test."""

    def __init__(self, settings: Settings, processes: int) -> None:
        self.process = subprocess.Popen(
            [SCHEDGEN, "worker", "--processes", str(processes), "--threads", "2"],
            env=_env(settings),
            start_new_session=True,
        )

    def children(self) -> list[int]:
        """Pids of the worker processes (not multiprocessing's resource tracker)."""
        with open(f"/proc/{self.process.pid}/task/{self.process.pid}/children") as listing:
            pids = [int(pid) for pid in listing.read().split()]
        workers = []
        for pid in pids:
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                    if b"resource_tracker" not in cmdline.read():
                        workers.append(pid)
            except FileNotFoundError:
                continue
        return workers

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@pytest.fixture
def workers(settings: Settings, container: Container) -> Iterator[Callable[[int], Workers]]:
    started: list[Workers] = []

    def start(processes: int) -> Workers:
        started.append(Workers(settings, processes))
        return started[-1]

    yield start
    for group in started:
        group.stop()


def upload(api: TestClient, pdfs: list[tuple[str, bytes]]) -> list[str]:
    files = [("files", (name, data, "application/pdf")) for name, data in pdfs]
    response = api.post("/api/uploads", files=files)
    assert response.status_code == 202, response.text
    return [job["id"] for job in response.json()["jobs"]]


def statuses(api: TestClient, ids: list[str]) -> list[dict[str, Any]]:
    return [api.get(f"/api/jobs/{job_id}").json() for job_id in ids]


def all_finished(api: TestClient, ids: list[str]) -> list[dict[str, Any]] | None:
    jobs = statuses(api, ids)
    return jobs if all(j["status"] in ("completed", "failed") for j in jobs) else None


def test_uploads_are_parsed_by_worker_processes(
    api: TestClient, workers: Callable[[int], Workers], real_pdfs: dict[str, bytes], container: Container
) -> None:
    ids = upload(api, [(f"{k}.pdf", v) for k, v in real_pdfs.items()])
    workers(2)
    jobs = wait_for(lambda: all_finished(api, ids))
    assert [(j["status"], j["kind"], j["attempts"]) for j in jobs] == [
        ("completed", kind, 1) for kind in real_pdfs
    ]
    assert [len(j["events"]) for j in jobs] == [30, 12, 5]
    # Each PDF is deleted from S3 once its job completes (in the worker's next batch of deletes).
    later = container.jobs.clock() + dt.timedelta(days=1)
    wait_for(lambda: not list(container.blobs.keys_older_than(later)), timeout=10)


def test_a_killed_worker_loses_no_job_and_none_completes_twice(
    api: TestClient, workers: Callable[[int], Workers], real_pdfs: dict[str, bytes]
) -> None:
    group = workers(2)
    ids = [job for _ in range(8) for job in upload(api, [(f"{k}.pdf", v) for k, v in real_pdfs.items()])]
    wait_for(lambda: any(j["status"] == "completed" for j in statuses(api, ids)))
    victim = wait_for(group.children)[0]
    os.kill(victim, signal.SIGKILL)
    jobs = wait_for(lambda: all_finished(api, ids), timeout=120)
    assert all(j["status"] == "completed" for j in jobs), [j for j in jobs if j["status"] != "completed"]
    metrics = api.get("/api/jobs/metrics").json()
    assert (metrics["completed"], metrics["total"]) == (len(ids), len(ids))
    assert len(wait_for(group.children)) == 2  # the supervisor replaced the dead process


def test_redis_flushed_mid_run_every_job_still_completes(
    api: TestClient, workers: Callable[[int], Workers], real_pdfs: dict[str, bytes], settings: Settings
) -> None:
    ids = [job for _ in range(4) for job in upload(api, [(f"{k}.pdf", v) for k, v in real_pdfs.items()])]
    assert settings.redis_url is not None
    redis.Redis.from_url(settings.redis_url).flushdb()  # every queued message is gone
    workers(1)
    jobs = wait_for(lambda: all_finished(api, ids), timeout=90)
    assert all(j["status"] == "completed" for j in jobs)
