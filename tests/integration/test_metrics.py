"""Metrics: /metrics names and labels, Property 8 (N jobs move counters by exactly N), multiprocess mode."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from schedgen.adapters.metrics import build_metrics
from schedgen.bootstrap import build
from schedgen.domain.events import Kind, Timetable
from schedgen.services.jobs import process_job, read_job_document, submit_upload
from tests.support.webapps import MODES, TINY_PDF, assert_error, serve, settings_for

NAMES = (
    "http_request_duration_seconds",
    "pdf_jobs_total",
    "pdf_processing_duration_seconds",
    "queue_jobs_waiting",
    "queue_jobs_active",
    "database_connections",
    "cache_requests_total",
    "rate_limit_rejections_total",
    "upload_bytes",
)


def test_metrics_endpoint_exports_every_metric_with_route_templates(tmp_path: Path) -> None:
    with serve(settings_for("embedded", None, tmp_path)) as client:  # type: ignore[arg-type]
        client.get(f"/api/jobs/{uuid.uuid4()}")
        client.get("/api/nothing-here")
        text = client.get("/metrics").text
    for name in NAMES:
        assert f"# TYPE {name.removesuffix('_total')}" in text, name
    assert 'route="/api/jobs/{job_id}"' in text
    assert 'route="<unmatched>"' in text
    assert "/api/nothing-here" not in text  # raw URLs never become labels
    assert 'database_connections{state="checked_out"}' in text


def test_a_metrics_token_guards_the_endpoint(tmp_path: Path) -> None:
    config = settings_for("embedded", None, tmp_path, metrics_token="scrape-secret")  # type: ignore[arg-type]
    with serve(config) as client:
        assert_error(client.get("/metrics"), 401, "UNAUTHORIZED")
        assert_error(client.get("/metrics", headers={"Authorization": "Bearer nope"}), 401, "UNAUTHORIZED")
        scraped = client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
        assert scraped.status_code == 200
        assert "# TYPE pdf_jobs" in scraped.text
        assert client.get("/health").status_code == 200  # probes stay open


def fake_parse(data: bytes) -> Timetable:
    return Timetable(kind=Kind.EXAMS, events=())


@pytest.mark.parametrize("mode", MODES)
def test_property_8_n_jobs_move_counters_by_exactly_n(
    mode: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    config = settings_for(mode, request, tmp_path)
    container = build(config, migrate=True, parse=fake_parse)
    metrics = build_metrics(CollectorRegistry())
    deps = dataclasses.replace(container.jobs, observer=metrics.observe_job, on_cache=metrics.count_cache)
    sample = metrics.registry.get_sample_value

    @settings(max_examples=5, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(n=st.integers(min_value=0, max_value=6))
    def check(n: int) -> None:
        labels = {"type": "exams", "status": "completed"}
        before = (
            sample("pdf_jobs_total", labels) or 0,
            sample("pdf_processing_duration_seconds_count", {"type": "exams"}) or 0,
            sample("upload_bytes_count") or 0,
            sample("cache_requests_total", {"result": "miss"}) or 0,
            sample("cache_requests_total", {"result": "hit"}) or 0,
        )
        for _ in range(n):
            job = submit_upload(deps, owner=f"o-{uuid.uuid4()}", filename="e.pdf", chunks=[TINY_PDF])
            process_job(deps, job.id)
            for _ in range(2):  # the first read of a finished job misses the cache, the second hits
                read_job_document(deps, job.id, lambda job: job.status.encode())
        after = (
            sample("pdf_jobs_total", labels) or 0,
            sample("pdf_processing_duration_seconds_count", {"type": "exams"}) or 0,
            sample("upload_bytes_count") or 0,
            sample("cache_requests_total", {"result": "miss"}) or 0,
            sample("cache_requests_total", {"result": "hit"}) or 0,
        )
        assert [a - b for a, b in zip(after, before, strict=True)] == [n, n, n, n, n]

    try:
        check()
    finally:
        container.close()


MULTIPROCESS_CHILD = """
import sys
from schedgen.adapters.metrics import metrics_for_process
m = metrics_for_process()
m.pdf_jobs.labels(type="exams", status="completed").inc(int(sys.argv[1]))
m.rate_limit_rejections.labels(endpoint="uploads").inc()
"""


def test_multiprocess_mode_sums_every_process(tmp_path: Path) -> None:
    folder = tmp_path / "prom"
    folder.mkdir()
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(folder))
    for count in ("2", "3"):
        subprocess.run([sys.executable, "-c", MULTIPROCESS_CHILD, count], env=env, check=True)
    reader = "from schedgen.adapters.metrics import metrics_for_process; print(metrics_for_process().render()[0].decode())"
    out = subprocess.run(
        [sys.executable, "-c", reader], env=env, check=True, capture_output=True, text=True
    ).stdout
    assert 'pdf_jobs_total{status="completed",type="exams"} 5.0' in out
    assert 'rate_limit_rejections_total{endpoint="uploads"} 2.0' in out
