"""API + separate worker processes on PostgreSQL, Redis and S3: jobs complete exactly once, whatever dies."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

import pytest
import redis
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, multiprocess
from pydantic import SecretStr

from schedgen.bootstrap import Container, build
from schedgen.config import Settings
from schedgen.domain.jobs import Job, JobStatus
from schedgen.parsing.api import parse_pdf
from schedgen.rendering.contract import timetable_to_dict
from schedgen.services.jobs import get_job
from schedgen.web.app import create_app
from tests.support import parse_gate
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
        s3_access_key=SecretStr("test"),
        s3_secret_key=SecretStr("test"),
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

    def __init__(self, settings: Settings, processes: int, env: Mapping[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [SCHEDGEN, "worker", "--processes", str(processes), "--threads", "2"],
            env={**_env(settings), **(env or {})},
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


class StartWorkers(Protocol):
    """The `workers` fixture: starts `schedgen worker --processes N`, with extra environment variables."""

    def __call__(self, processes: int, env: Mapping[str, str] | None = None) -> Workers: ...


@pytest.fixture
def workers(settings: Settings, container: Container) -> Iterator[StartWorkers]:
    started: list[Workers] = []

    def start(processes: int, env: Mapping[str, str] | None = None) -> Workers:
        started.append(Workers(settings, processes, env))
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
    api: TestClient, workers: StartWorkers, real_pdfs: dict[str, bytes], container: Container
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
    api: TestClient, workers: StartWorkers, real_pdfs: dict[str, bytes]
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


HELD_PARSE_TIMEOUT_S = 6.0  # parse wall-clock limit: how long the held child lives (the test looks sooner)
WORKERS_START_S = 60.0  # start-up to the first claim: about 30 s seen with a loaded 2-CPU machine
ZYGOTE = "schedgen.adapters.zygote"


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a process, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return fields[0], int(fields[1])


def _alive(pid: int) -> bool:
    """Running or sleeping; a zombie (dead, not yet reaped by whoever inherited it) is not alive."""
    stat = _stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")


def _parent(pid: int) -> int:
    stat = _stat(pid)
    assert stat is not None, f"process {pid} is gone"
    return stat[1]


def _cmdline(pid: int) -> list[str]:
    with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
        return cmdline.read().decode().rstrip("\0").split("\0")


def _completions(metrics_dir: Path) -> float:
    """pdf_jobs_total{status="completed"} over every worker process that ever ran, the killed one included."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(metrics_dir))  # type: ignore[no-untyped-call]
    return sum(
        sample.value
        for metric in registry.collect()
        for sample in metric.samples
        if sample.name == "pdf_jobs_total" and sample.labels.get("status") == "completed"
    )


def _job(container: Container, job_id: str) -> Job:
    job = get_job(container.jobs, job_id)
    assert job is not None
    return job


def test_a_worker_killed_inside_a_job_loses_it_to_another_which_completes_it_once(
    api: TestClient,
    workers: StartWorkers,
    real_pdfs: dict[str, bytes],
    container: Container,
    tmp_path: Path,
) -> None:
    """SIGKILL lands while the worker's parse child is parsing the job; another worker completes it, once."""
    gate, metrics_dir = tmp_path / "gate", tmp_path / "metrics"
    gate.mkdir()
    metrics_dir.mkdir()
    env = {
        **parse_gate.worker_env(gate),  # the first parse, in any worker process, is held in its parse child
        "SCHEDGEN_PARSE_TIMEOUT_S": str(HELD_PARSE_TIMEOUT_S),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),  # every process's job counters, kept after a SIGKILL
        "SCHEDGEN_WORKER_HEALTH_PORT": "0",
    }
    group = workers(2, env)
    pdf = real_pdfs["lectures"]
    [job_id] = upload(api, [("lectures.pdf", pdf)])

    # The worker process is inside the job: its parse child holds the gate, under that process's zygote.
    child = wait_for(lambda: parse_gate.blocked_child(gate), timeout=WORKERS_START_S)
    zygote = _parent(child)
    victim = _parent(zygote)
    assert victim in group.children()
    assert _cmdline(zygote)[1:3] == ["-m", ZYGOTE]
    assert parse_gate.TARGET in _cmdline(zygote)
    held = _job(container, job_id)
    assert (held.status, held.attempts, held.completed_at) == (JobStatus.PROCESSING, 1, None)
    assert held.worker is not None  # the victim's claim: only a claim holder parses, and claims are exclusive
    assert held.worker.split(":")[-2] == str(victim)  # a claim names its process, so operators can find it
    assert _alive(zygote)
    assert _alive(child)
    os.kill(victim, signal.SIGKILL)
    killed_at = container.jobs.clock()
    # The kill landed while the job was being parsed: the gate never lets the held parse finish, so the job is
    # still on its first attempt (the zygote may already be killing the child: it does so once its owner dies).
    after_kill = _job(container, job_id)
    assert (after_kill.status, after_kill.attempts, after_kill.worker) == (
        JobStatus.PROCESSING,
        1,
        held.worker,
    )

    # The zygote sees its control socket close, kills the child still parsing and exits - long before the
    # child's own wall-clock limit would have ended it.
    wait_for(lambda: not _alive(zygote) and not _alive(child), timeout=HELD_PARSE_TIMEOUT_S - 1)

    # The victim's claim goes stale (no more heartbeats) and another worker process re-claims and completes it.
    done = wait_for(lambda: (job := _job(container, job_id)).status.finished and job, timeout=30)
    assert (done.status, done.kind, done.attempts) == (JobStatus.COMPLETED, "lectures", 2)
    assert done.worker not in (None, held.worker)
    assert done.last_attempt_at is not None
    assert done.last_attempt_at > killed_at  # re-claimed after the kill
    assert done.completed_at is not None
    expected = timetable_to_dict(parse_pdf(pdf))["events"]
    assert api.get(f"/api/jobs/{job_id}").json()["events"] == expected

    # Exactly once: two parses (the held one and the redelivered one), one completion in any process.
    calls = parse_gate.parse_calls(gate)
    assert len(calls) == 2, calls
    assert calls[0] == child
    assert _completions(metrics_dir) == 1
    metrics = api.get("/api/jobs/metrics").json()
    assert (metrics["completed"], metrics["total"]) == (1, 1)


def test_redis_flushed_mid_run_every_job_still_completes(
    api: TestClient, workers: StartWorkers, real_pdfs: dict[str, bytes], settings: Settings
) -> None:
    ids = [job for _ in range(4) for job in upload(api, [(f"{k}.pdf", v) for k, v in real_pdfs.items()])]
    assert settings.redis_url is not None
    redis.Redis.from_url(settings.redis_url).flushdb()  # every queued message is gone
    workers(1)
    jobs = wait_for(lambda: all_finished(api, ids), timeout=90)
    assert all(j["status"] == "completed" for j in jobs)
