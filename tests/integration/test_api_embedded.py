"""The API in embedded mode (SQLite, local blobs, in-process broker and workers): upload -> job -> events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from schedgen.config import Settings
from schedgen.web.app import create_app
from tests.support.waiting import wait_for

EXPECTED = Path(__file__).parents[1] / "unit" / "parsing" / "expected"
EXPECTED_FILES = {"lectures": "UP_MOD_XLS.json", "tests": "UP_TST_PDF.json", "exams": "UP_EXAM_SS.json"}
ERROR_KEYS = {"statusCode", "error", "message", "requestId", "timestamp", "path"}


def make_client(tmp_path: Path, **overrides: Any) -> TestClient:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "in_process_workers": 2,
        "reconcile_interval_s": 0.5,
    }
    return TestClient(create_app(Settings(**{**values, **overrides})))


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with make_client(tmp_path) as test_client:
        yield test_client


def finished(client: TestClient, job_id: str) -> dict[str, Any] | None:
    body: dict[str, Any] = client.get(f"/api/jobs/{job_id}").json()
    return body if body["status"] in ("completed", "failed") else None


def test_three_real_pdfs_become_three_completed_jobs_with_exact_events(
    client: TestClient, real_pdfs: dict[str, bytes]
) -> None:
    files = [("files", (f"{kind}.pdf", data, "application/pdf")) for kind, data in real_pdfs.items()]
    response = client.post("/api/uploads", files=files)
    assert response.status_code == 202, response.text
    jobs = response.json()["jobs"]
    assert [(j["filename"], j["status"]) for j in jobs] == [(f"{k}.pdf", "pending") for k in real_pdfs]
    for kind, job in zip(real_pdfs, jobs, strict=True):
        body = wait_for(lambda job_id=job["id"]: finished(client, job_id))
        assert body["status"] == "completed", body
        assert body["kind"] == kind
        assert body["attempts"] == 1
        expected = json.loads((EXPECTED / EXPECTED_FILES[kind]).read_text())
        assert body["events"] == expected["events"]
        assert body["completed_at"] is not None


def test_a_pdf_that_cannot_be_parsed_fails_at_once_with_its_code(client: TestClient) -> None:
    broken = b"%PDF-1.7\n" + b"garbage " * 200 + b"\n%%EOF\n"
    job = client.post("/api/uploads", files=[("files", ("x.pdf", broken, "application/pdf"))]).json()["jobs"][
        0
    ]
    body = wait_for(lambda: finished(client, job["id"]))
    assert body["status"] == "failed"
    assert body["error"]["code"] == "CORRUPT_PDF"
    assert body["attempts"] == 1  # a bad PDF is not retried
    assert body["events"] is None


def test_not_a_pdf_is_refused_at_upload_with_the_shared_error_shape(client: TestClient) -> None:
    response = client.post(
        "/api/uploads", files=[("files", ("notes.pdf", b"hello " * 400, "application/pdf"))]
    )
    assert response.status_code == 415
    body = response.json()
    assert set(body) == ERROR_KEYS
    assert body["error"] == "NOT_A_PDF"
    assert body["path"] == "/api/uploads"
    assert body["requestId"] == response.headers["x-request-id"]


def test_too_large_upload_is_refused(client: TestClient) -> None:
    big = b"%PDF-1.7\n" + b"0" * (10 * 1024 * 1024)
    response = client.post("/api/uploads", files=[("files", ("big.pdf", big, "application/pdf"))])
    assert response.status_code == 413
    assert response.json()["error"] == "FILE_TOO_LARGE"


def test_more_than_three_files_are_refused(client: TestClient) -> None:
    files = [("files", (f"{n}.pdf", b"%PDF-1.7\n%%EOF\n", "application/pdf")) for n in range(4)]
    response = client.post("/api/uploads", files=files)
    assert response.status_code == 413
    assert response.json()["error"] == "TOO_MANY_FILES"


def test_upload_without_files_is_a_bad_request(client: TestClient) -> None:
    response = client.post("/api/uploads", data={"note": "nothing"})
    assert response.status_code == 400
    assert response.json()["error"] == "BAD_UPLOAD"


def test_delete_removes_the_job(client: TestClient, real_pdfs: dict[str, bytes]) -> None:
    job = client.post(
        "/api/uploads", files=[("files", ("e.pdf", real_pdfs["exams"], "application/pdf"))]
    ).json()["jobs"][0]
    wait_for(lambda: finished(client, job["id"]))
    assert client.delete(f"/api/jobs/{job['id']}").status_code == 204
    missing = client.get(f"/api/jobs/{job['id']}")
    assert missing.status_code == 404
    assert missing.json()["error"] == "NOT_FOUND"
    assert client.delete(f"/api/jobs/{job['id']}").status_code == 404


def test_a_finished_job_has_an_etag_and_answers_304_when_unchanged(
    client: TestClient, real_pdfs: dict[str, bytes]
) -> None:
    job = client.post(
        "/api/uploads", files=[("files", ("e.pdf", real_pdfs["exams"], "application/pdf"))]
    ).json()["jobs"][0]
    body = wait_for(lambda: finished(client, job["id"]))
    first = client.get(f"/api/jobs/{job['id']}")
    etag = first.headers["etag"]
    assert first.json() == body
    assert first.headers["cache-control"] == "no-cache"
    again = client.get(f"/api/jobs/{job['id']}", headers={"If-None-Match": etag})
    assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", etag)
    other = client.get(f"/api/jobs/{job['id']}", headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200
    assert other.json() == body


def test_metrics_count_jobs_by_state(client: TestClient, real_pdfs: dict[str, bytes]) -> None:
    ok = client.post("/api/uploads", files=[("files", ("e.pdf", real_pdfs["exams"], "application/pdf"))])
    bad = client.post(
        "/api/uploads", files=[("files", ("b.pdf", b"%PDF-1.4\nnope\n%%EOF", "application/pdf"))]
    )
    for response in (ok, bad):
        wait_for(lambda response=response: finished(client, response.json()["jobs"][0]["id"]))
    metrics = client.get("/api/jobs/metrics").json()
    assert metrics == {"waiting": 0, "active": 0, "completed": 1, "failed": 1, "delayed": 0, "total": 2}


def test_full_queue_answers_503_with_retry_after(tmp_path: Path, real_pdfs: dict[str, bytes]) -> None:
    with make_client(tmp_path, queue_backpressure_limit=0) as full:
        response = full.post(
            "/api/uploads", files=[("files", ("e.pdf", real_pdfs["exams"], "application/pdf"))]
        )
    assert response.status_code == 503
    assert response.json()["error"] == "QUEUE_FULL"
    assert int(response.headers["retry-after"]) > 0


@pytest.mark.parametrize(("refresh_s", "accepted"), [(0.0, 2), (3600.0, 3)])
def test_backpressure_counts_waiting_jobs_at_most_once_per_refresh(
    tmp_path: Path, real_pdfs: dict[str, bytes], refresh_s: float, accepted: int
) -> None:
    """With no workers, jobs wait: a fresh count refuses the third upload; a cached count lets it in."""
    upload = [("files", ("e.pdf", real_pdfs["exams"], "application/pdf"))]
    settings = {"queue_backpressure_limit": 2, "in_process_workers": 0, "backpressure_refresh_s": refresh_s}
    with make_client(tmp_path, **settings) as client:
        codes = [client.post("/api/uploads", files=upload).status_code for _ in range(3)]
    assert codes.count(202) == accepted
    assert codes[:accepted] == [202] * accepted
    assert set(codes[accepted:]) <= {503}


def test_unknown_route_uses_the_error_shape(client: TestClient) -> None:
    response = client.get("/api/nothing-here")
    assert response.status_code == 404
    assert set(response.json()) == ERROR_KEYS


def test_openapi_docs_are_served(client: TestClient) -> None:
    assert client.get("/api/docs").status_code == 200
    spec = client.get("/api/openapi.json").json()
    accepted = spec["paths"]["/api/uploads"]["post"]["responses"]["202"]  # the route writes this JSON itself
    assert accepted["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/UploadResponse"
    }


def test_restart_resumes_pending_jobs(tmp_path: Path, real_pdfs: dict[str, bytes]) -> None:
    with make_client(tmp_path, in_process_workers=0) as first:  # no workers: the job stays pending
        job = first.post("/api/uploads", files=[("files", ("e.pdf", real_pdfs["exams"], "application/pdf"))])
    job_id = job.json()["jobs"][0]["id"]
    with make_client(tmp_path, stuck_pending_after_s=0) as second:
        body = wait_for(lambda: finished(second, job_id))
    assert body["status"] == "completed"


def test_fastapi_opentelemetry_hooks_stay_off_even_with_a_configured_provider(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from unittest import mock

    from opentelemetry import _logs, metrics, trace

    # Stand-ins for an application-wide OpenTelemetry set-up (which schedgen does not have); FastAPI's hooks,
    # if on, would look them up on every request and record through them.
    providers = {"trace": mock.MagicMock(), "metrics": mock.MagicMock(), "logs": mock.MagicMock()}
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: providers["trace"])
    monkeypatch.setattr(metrics, "get_meter_provider", lambda: providers["metrics"])
    monkeypatch.setattr(_logs, "get_logger_provider", lambda: providers["logs"])
    assert client.get("/health").status_code == 200
    assert client.get("/api/jobs/metrics").status_code == 200
    assert [name for name, provider in providers.items() if provider.mock_calls] == []
