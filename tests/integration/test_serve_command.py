"""`schedgen serve` (embedded), the README's main command: migration in a child process (the server never loads
Alembic), and forwarded headers judged by schedgen alone."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import struct
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.waiting import wait_for

SCRIPT = textwrap.dedent(
    """
    import subprocess, sys
    from schedgen import bootstrap
    from schedgen.adapters.db.revision import is_at_head
    from schedgen.cli import _migrate_in_child
    from schedgen.config import Settings

    settings = Settings()
    _migrate_in_child(settings)                 # a fresh data folder: `schedgen db upgrade` in a child
    container = bootstrap.build(settings)       # finds the database at head
    assert is_at_head(container.engine)
    container.close()
    real_run = subprocess.run
    def refuse(*args, **kwargs):
        raise AssertionError("no second migration process expected")
    subprocess.run = refuse
    _migrate_in_child(settings)                 # at head already: nothing to start
    subprocess.run = real_run
    print(sorted(name for name in sys.modules if name.split(".")[0] in {"alembic", "mako"}))
    """
)


def embedded_env(data_dir: Path, **settings: str) -> dict[str, str]:
    """This environment without any SCHEDGEN_* setting of the caller's: the embedded defaults in data_dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEDGEN_")}
    return {**env, "SCHEDGEN_DATA_DIR": str(data_dir), **settings}


def test_the_embedded_server_migrates_in_a_child_and_never_imports_alembic(tmp_path: Path) -> None:
    env = embedded_env(tmp_path / "data")
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert (tmp_path / "data").is_dir()


def test_a_failed_migration_stops_the_server_with_a_plain_message(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "schedgen.db").write_bytes(b"this is not a SQLite database" * 100)
    env = embedded_env(data)
    done = subprocess.run(
        [sys.executable, "-m", "schedgen.cli", "serve", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "cannot migrate the database: file is not a database" in done.stderr


@contextlib.contextmanager
def serving(tmp_path: Path, **settings: str) -> Iterator[tuple[int, Path]]:
    """`schedgen serve` (embedded, in tmp_path) on a free loopback port: (port, its log file)."""
    env = embedded_env(tmp_path / "data", **settings)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "schedgen.cli", "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=out,
        )
    try:
        wait_for(lambda: server.poll() is not None or _answers(f"http://127.0.0.1:{port}/health"), timeout=60)
        assert server.poll() is None, log.read_text()[-3000:]
        yield port, log
    finally:
        server.terminate()
        server.wait(timeout=15)


def test_the_server_judges_forwarded_headers_itself_not_uvicorn(tmp_path: Path) -> None:
    """uvicorn would believe X-Forwarded-For from 127.0.0.1; only SCHEDGEN_TRUSTED_PROXIES may say who is trusted."""
    with serving(tmp_path, SCHEDGEN_LOG_LEVEL="INFO") as (port, log):
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/jobs/no-such-job", headers={"X-Forwarded-For": "203.0.113.9"}
        )
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(request, timeout=10)
        assert answer.value.code == 404
        answer.value.close()
        wait_for(lambda: b"/api/jobs/no-such-job" in log.read_bytes(), timeout=10)
    lines = [json.loads(line) for line in log.read_text().splitlines() if "/api/jobs/no-such-job" in line]
    assert [line["ip"] for line in lines] == ["127.0.0.1"]


TCPI_SEGS_IN = 140  # offset of tcpi_segs_in in Linux's struct tcp_info (since 4.2)


def _segments_received(connection: socket.socket) -> int:
    info = connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    return int(struct.unpack_from("I", info, TCPI_SEGS_IN)[0])


def _get(connection: socket.socket, path: str) -> tuple[bytes, bytes]:
    """One keep-alive GET: (status line, body)."""
    connection.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    received = b""
    while b"\r\n\r\n" not in received:
        received += connection.recv(65536)
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    length = int(next(line for line in lines if line.lower().startswith(b"content-length:")).split(b":")[1])
    while len(body) < length:
        body += connection.recv(65536)
    return lines[0], body


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts segments with Linux's TCP_INFO")
def test_a_small_response_leaves_the_server_in_one_tcp_segment(tmp_path: Path) -> None:
    """uvicorn on its own sends a response's head and body with two writes: two segments on loopback."""
    with serving(tmp_path) as (port, _log), socket.create_connection(("127.0.0.1", port)) as connection:
        _get(connection, "/health")  # the connection's first exchange is not counted
        before = _segments_received(connection)
        answers = [_get(connection, path) for path in ["/health", "/api/jobs/metrics"] * 5]
        segments = _segments_received(connection) - before
    assert {status for status, _ in answers} == {b"HTTP/1.1 200 OK"}
    assert json.loads(answers[1][1])["total"] == 0
    assert segments == len(answers)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError:
        return False
