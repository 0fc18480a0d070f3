"""Health: liveness, readiness naming the failed dependency within 5 s, pool numbers, worker health."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from schedgen.bootstrap import build
from schedgen.worker.health import start_health_server
from schedgen.worker.runner import start_workers
from tests.support.webapps import MODES, assert_error, serve, settings_for


def test_liveness(tmp_path: Path) -> None:
    with serve(settings_for("embedded", None, tmp_path)) as client:  # type: ignore[arg-type]
        assert client.get("/health").json() == {"status": "ok"}


def test_embedded_ready_with_workers_and_not_ready_without(tmp_path: Path) -> None:
    with serve(settings_for("embedded", None, tmp_path, in_process_workers=1)) as client:  # type: ignore[arg-type]
        ready = client.get("/health/ready")
        assert ready.status_code == 200, ready.text
        assert set(ready.json()["checks"]) == {"database", "blobstore", "workers"}
    with serve(settings_for("embedded", None, tmp_path / "b")) as idle:  # type: ignore[arg-type]
        body = assert_error(idle.get("/health/ready"), 503, "NOT_READY")
        assert "workers" in body["message"]
        assert "database" not in body["message"]


def test_distributed_ready_needs_a_live_worker_heartbeat(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    config = settings_for("distributed", request, tmp_path)
    with serve(config) as client:
        body = assert_error(client.get("/health/ready"), 503, "NOT_READY")
        assert "workers (no live worker heartbeat)" in body["message"]
        worker_container = build(config)
        worker = start_workers(worker_container, 1)
        try:
            deadline = time.monotonic() + 10
            while (ready := client.get("/health/ready")).status_code != 200 and time.monotonic() < deadline:
                time.sleep(0.1)  # the consumer's first heartbeat comes with its first poll
            assert ready.status_code == 200, ready.text
            assert set(ready.json()["checks"]) == {"database", "blobstore", "workers", "redis"}
        finally:
            worker.stop(timeout=5_000)
            worker_container.close()


@pytest.mark.parametrize("mode", MODES)
def test_hung_dependency_fails_its_check_within_5_seconds(
    mode: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    config = settings_for(mode, request, tmp_path, in_process_workers=1)
    release = threading.Event()
    with serve(config) as client:
        client.app.state.container.blobs.check = lambda: release.wait(30)  # type: ignore[attr-defined]
        start = time.monotonic()
        response = client.get("/health/ready")
        elapsed = time.monotonic() - start
        release.set()
    assert elapsed < 5
    body = assert_error(response, 503, "NOT_READY")
    assert "blobstore (no answer within 2 s)" in body["message"]


@pytest.mark.parametrize("mode", MODES)
def test_db_health_reports_the_pool(mode: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    with serve(settings_for(mode, request, tmp_path)) as client:
        body = client.get("/health/db").json()
    assert body["status"] == "ok"
    assert body["pool"]["size"] == 10
    assert set(body["pool"]) == {"size", "checked_out", "idle", "overflow"}


def test_db_health_names_an_unreachable_database(tmp_path: Path) -> None:
    with serve(settings_for("embedded", None, tmp_path)) as client:  # type: ignore[arg-type]

        def broken() -> None:
            raise OSError("down")

        client.app.state.container.engine.connect = broken  # type: ignore[attr-defined]
        body = assert_error(client.get("/health/db"), 503, "NOT_READY")
    assert "database" in body["message"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_worker_supervisor_health_endpoint(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    config = settings_for("distributed", request, tmp_path, worker_health_port=_free_port())
    alive = [2]
    server = start_health_server(config, expected=2, alive=lambda: alive[0])
    assert server is not None
    base = f"http://127.0.0.1:{config.worker_health_port}"
    try:
        assert _get(f"{base}/health") == (200, json.dumps({"status": "ok", "processes": 2}).encode())
        alive[0] = 1
        assert _get(f"{base}/health")[0] == 503
        assert _get(f"{base}/health/ready")[0] == 503  # no consumer heartbeat in Redis yet
        status, text = _get(f"{base}/metrics")
        assert (status == 200 and b"pdf_jobs_total" in text) or b"# HELP" in text
    finally:
        server.shutdown()
        server.server_close()


def test_worker_metrics_need_the_metrics_token_when_one_is_set(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    config = settings_for(
        "distributed", request, tmp_path, worker_health_port=_free_port(), metrics_token="scrape-secret"
    )
    server = start_health_server(config, expected=1, alive=lambda: 1)
    assert server is not None
    base = f"http://127.0.0.1:{config.worker_health_port}"
    try:
        assert _get(f"{base}/metrics")[0] == 401
        asked = urllib.request.Request(f"{base}/metrics", headers={"Authorization": "Bearer scrape-secret"})
        with urllib.request.urlopen(asked, timeout=5) as response:
            assert response.status == 200
            assert b"# HELP" in response.read()
        assert _get(f"{base}/health")[0] == 200  # the supervisor's health stays open
    finally:
        server.shutdown()
        server.server_close()
