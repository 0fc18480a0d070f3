"""Building the service for hardening tests: embedded (in-process stores) or distributed (PG, Redis, S3)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from schedgen.config import Settings
from schedgen.web.app import create_app

ERROR_KEYS = {"statusCode", "error", "message", "requestId", "timestamp", "path"}
CLIENT_IP = "203.0.113.7"  # the test client's address (TEST-NET-3)
MODES = ["embedded", "distributed"]
TINY_PDF = b"%PDF-1.4\n" + b"0" * 2000 + b"\n%%EOF\n"  # passes the upload checks; fails parsing


def settings_for(mode: str, request: pytest.FixtureRequest, tmp_path: Path, **overrides: Any) -> Settings:
    """Settings for a mode; distributed asks for the real-service fixtures (skipped if they are missing)."""
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "in_process_workers": 0,
        "reconcile_interval_s": 60,
        "rate_limits": True,  # on here (tests/integration/conftest.py turns them off by default)
    }
    if mode == "distributed":
        values |= {
            "database_url": request.getfixturevalue("postgres_url"),
            "redis_url": request.getfixturevalue("redis_url"),
            "s3_endpoint_url": request.getfixturevalue("s3_endpoint"),
            "s3_bucket": f"uploads-{uuid.uuid4().hex[:10]}",
            "s3_access_key": "test",
            "s3_secret_key": "test",
        }
    return Settings(**(values | overrides))


@contextmanager
def serve(settings: Settings, ip: str = CLIENT_IP, **kwargs: Any) -> Iterator[TestClient]:
    """A started app (lifespan run) with a migrated database, as a test client from `ip`."""
    from schedgen.bootstrap import build

    container = build(settings, migrate=True)
    try:
        with TestClient(create_app(settings, container), client=(ip, 50000), **kwargs) as client:
            yield client
    finally:
        container.close()


def prime(client: Any) -> None:
    """Get a session cookie (a route-less request: counted by the global cap only)."""
    assert "schedgen_session=" in client.get("/api/no-such-route").headers["set-cookie"]


def upload(client: TestClient, data: bytes = TINY_PDF, **kwargs: Any) -> Any:
    """POST one PDF to /api/uploads."""
    return client.post("/api/uploads", files=[("files", ("t.pdf", data, "application/pdf"))], **kwargs)


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The response is `status` with the shared error shape and this code; returns the body."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == ERROR_KEYS, body
    assert body["error"] == code
    assert body["statusCode"] == status
    assert body["requestId"] == response.headers["x-request-id"]
    return body


def run_async(coroutine: Any) -> Any:
    """Run a coroutine to completion on a fresh event loop in its own thread (safe inside any test)."""
    import asyncio
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
