"""Logs: one JSON object per line with request id, identity, route, status, duration; never secrets or PDFs."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter

from schedgen.adapters.logs import JsonFormatter, configure_logging, job_context, redact
from schedgen.config import Settings
from schedgen.web.middleware.access import _level as access_level
from tests.support.webapps import prime, serve, settings_for, upload

TOKEN = "admin-token-never-logged"
MARKER = b"PDF-CONTENT-MARKER-never-logged"


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = configure_logging(Settings(log_level="DEBUG"), stream=stream)
    root = logging.getLogger()
    level = root.level
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_access_lines_are_json_with_request_id_identity_route_status_duration(
    tmp_path: Path, log_stream: io.StringIO
) -> None:
    with serve(settings_for("embedded", None, tmp_path)) as client:  # type: ignore[arg-type]
        prime(client)
        response = client.get("/api/jobs/abc")
    access = [line for line in lines(log_stream) if line["logger"] == "schedgen.access"]
    line = access[-1]
    assert line["request_id"] == response.headers["x-request-id"]
    assert (line["route"], line["status"], line["method"]) == ("/api/jobs/{job_id}", 404, "GET")
    assert line["identity"].startswith("anon:")
    assert line["ip"] == "203.0.113.7"
    assert isinstance(line["duration_ms"], float)
    assert line["level"] == "INFO"


def test_request_id_is_taken_only_from_trusted_proxies(tmp_path: Path) -> None:
    config = settings_for("embedded", None, tmp_path, trusted_proxies="203.0.113.7")  # type: ignore[arg-type]
    with serve(config) as via_proxy:
        assert (
            via_proxy.get("/health", headers={"x-request-id": "abc-123"}).headers["x-request-id"] == "abc-123"
        )
    with serve(config.model_copy(update={"trusted_proxies": "", "data_dir": tmp_path / "b"})) as direct:
        echoed = direct.get("/health", headers={"x-request-id": "abc-123"}).headers["x-request-id"]
    assert echoed != "abc-123"
    assert len(echoed) == 32


def test_errors_are_logged_with_stack_traces_and_answered_in_the_shape(
    tmp_path: Path, log_stream: io.StringIO
) -> None:
    broken = APIRouter()

    @broken.get("/api/test-broken")
    async def boom() -> None:
        raise RuntimeError("kaput")

    with serve(settings_for("embedded", None, tmp_path)) as client:  # type: ignore[arg-type]
        client.app.include_router(broken)  # type: ignore[attr-defined]
        response = client.get("/api/test-broken")
    assert response.status_code == 500
    assert response.json()["error"] == "INTERNAL_ERROR"
    assert response.json()["requestId"] == response.headers["x-request-id"]
    assert "kaput" not in response.text
    error = next(line for line in lines(log_stream) if "exc_info" in line)
    assert "RuntimeError: kaput" in error["exc_info"]
    assert "Traceback" in error["exc_info"]
    assert error["request_id"] == response.headers["x-request-id"]


def test_no_tokens_cookies_passwords_or_pdf_contents_in_logs(tmp_path: Path, log_stream: io.StringIO) -> None:
    config = settings_for(
        "embedded",
        None,
        tmp_path,
        admin_token=TOKEN,
        in_process_workers=1,  # type: ignore[arg-type]
    )
    with serve(config) as client:
        prime(client)
        cookie = client.cookies["schedgen_session"]
        client.get("/api/admin/queue", headers={"Authorization": f"Bearer {TOKEN}"})
        client.get("/api/admin/queue", headers={"Authorization": "Bearer wrong-token-also-secret"})
        upload(client, b"%PDF-1.4\n" + MARKER * 50 + b"\n%%EOF\n")
        logging.getLogger("schedgen.test").info(
            "connecting to postgresql://u:hunter2@db/x with password=hunter2",
            extra={"authorization": "Bearer x", "cookie": cookie, "body": MARKER},
        )
    text = log_stream.getvalue()
    assert text
    for secret in (TOKEN, "wrong-token-also-secret", cookie, MARKER.decode(), "hunter2"):
        assert secret not in text, secret


def test_job_id_from_context_and_redaction_helpers() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "token=abc Bearer xyz", None, None)
    with job_context("job-1"):
        line = json.loads(JsonFormatter().format(record))
    assert line["job_id"] == "job-1"
    assert line["message"] == "token=*** Bearer ***"
    assert redact("redis://:pw@host:6379/0") == "redis://:***@host:6379/0"


def test_successful_polls_are_logged_at_debug_and_errors_on_them_at_info(
    tmp_path: Path, log_stream: io.StringIO
) -> None:
    with serve(settings_for("embedded", None, tmp_path)) as client:  # type: ignore[arg-type]
        assert client.get("/health").status_code == 200
        assert client.get("/api/jobs/metrics").status_code == 200
        assert client.get("/api/jobs/missing").status_code == 404
        assert client.get("/privacy").status_code == 200
    levels = {
        (line["route"], line["status"]): line["level"]
        for line in lines(log_stream)
        if line["logger"] == "schedgen.access"
    }
    assert levels[("/health", 200)] == levels[("/api/jobs/metrics", 200)] == "DEBUG"
    assert levels[("/api/jobs/{job_id}", 404)] == levels[("/privacy", 200)] == "INFO"


@pytest.mark.parametrize(
    ("method", "route", "status", "level"),
    [
        ("GET", "/api/jobs/{job_id}", 200, logging.DEBUG),
        ("GET", "/api/jobs/{job_id}", 304, logging.DEBUG),
        ("GET", "/api/jobs/{job_id}", 404, logging.INFO),
        ("DELETE", "/api/jobs/{job_id}", 204, logging.INFO),
        ("POST", "/api/uploads", 202, logging.INFO),
        ("GET", "/health/ready", 503, logging.WARNING),
    ],
)
def test_access_log_levels(method: str, route: str, status: int, level: int) -> None:
    assert access_level(method, route, status) == level


def test_serve_writes_each_line_once_as_json(tmp_path: Path) -> None:
    """The CLI's plain console handler gives way to the JSON one: no line is written twice."""
    script = (
        "import logging, sys\n"
        "from schedgen.adapters.logs import configure_logging\n"
        "from schedgen.config import Settings\n"
        "logging.basicConfig(level=logging.WARNING)\n"
        "configure_logging(Settings(data_dir=sys.argv[1]))\n"
        "logging.getLogger('schedgen.test').info('hello once')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, check=True
    )
    assert out.stderr.count("hello once") == 1
    assert json.loads(out.stderr.strip())["message"] == "hello once"
