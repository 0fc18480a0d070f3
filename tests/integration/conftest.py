"""Real services for integration tests: PostgreSQL, Redis and an S3 HTTP endpoint (moto_server) on loopback.

Each is found from an environment variable or its default address. When one is missing the tests that need
it are skipped with the reason (a failure in CI, see tests/conftest.py).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

POSTGRES_URL = os.environ.get(
    "SCHEDGEN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("SCHEDGEN_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), timeout=1):
            return True
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    """URL of a reachable PostgreSQL database (SCHEDGEN_TEST_POSTGRES_URL)."""
    if not _reachable(POSTGRES_URL, 5432):
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL} (scripts/test.sh starts it; see README)")
    return POSTGRES_URL


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL schema for one test; dropped afterwards."""
    import sqlalchemy as sa

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_server_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in postgres_server_url else "?"
    try:
        yield f"{postgres_server_url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session")
def redis_server_url() -> str:
    """URL of a reachable Redis server (SCHEDGEN_TEST_REDIS_URL)."""
    if not _reachable(REDIS_URL, 6379):
        pytest.skip(f"Redis not reachable at {REDIS_URL} (scripts/test.sh starts it; see README)")
    return REDIS_URL


@pytest.fixture
def redis_url(redis_server_url: str) -> Iterator[str]:
    """A Redis URL whose keys are wiped before and after the test (tests run one at a time)."""
    import redis

    client = redis.Redis.from_url(redis_server_url)
    client.flushdb()
    try:
        yield redis_server_url
    finally:
        client.flushdb()
        client.close()


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real S3 HTTP endpoint: moto_server on a free loopback port, started for the session."""
    port = _free_port()
    binary = Path(sys.executable).with_name("moto_server")
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with log.open("wb") as out:
        process = subprocess.Popen([str(binary), "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 20
        while not _reachable(f"http://127.0.0.1:{port}", port):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"moto_server did not start: {log.read_text()[-2000:]}")
            time.sleep(0.05)  # polling for a port to open, not synchronising test logic
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(autouse=True)
def _no_rate_limits_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests poll job status far faster than 100/minute: rate limits are off unless a test turns them on."""
    monkeypatch.setenv("SCHEDGEN_RATE_LIMITS", "off")
