"""Health and metrics of a `schedgen worker` supervisor, over a small HTTP server on a daemon thread.

GET /health        200 while the supervisor runs and every worker process it started is alive, else 503
GET /health/ready  200 when Redis answers and at least one worker consumer sent a heartbeat, else 503
GET /metrics       the metrics of every worker process (prometheus_client multiprocess mode)
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from schedgen.adapters.bearer import metrics_allowed
from schedgen.adapters.heartbeats import live_workers
from schedgen.adapters.metrics import metrics_for_process
from schedgen.adapters.redis_client import redis_client
from schedgen.config import Settings

log = logging.getLogger(__name__)

WORKER_PROCESS_NAME = "schedgen-worker"  # the name runner.supervise gives its children


def worker_processes_alive() -> int:
    """Worker processes of this supervisor that are alive."""
    return sum(1 for p in multiprocessing.active_children() if p.name == WORKER_PROCESS_NAME)


def readiness(settings: Settings) -> tuple[bool, str]:
    """Redis answers and some consumer sent a heartbeat recently."""
    timeout = settings.health_check_timeout_s
    try:
        client = redis_client(settings.redis_url or "", timeout)
        try:
            live = live_workers(client, settings.worker_heartbeat_timeout_ms)
        finally:
            client.close()
    except Exception as exc:  # any Redis failure means not ready
        return False, f"redis ({type(exc).__name__})"
    return (live > 0, f"{live} live consumer(s)") if live else (False, "workers (no live heartbeat)")


def _handler(settings: Settings, expected: int, alive: Callable[[], int]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/health":
                count = alive()
                ok = count >= expected
                self._json(200 if ok else 503, {"status": "ok" if ok else "degraded", "processes": count})
            elif self.path == "/health/ready":
                ok, detail = readiness(settings)
                self._json(200 if ok else 503, {"status": "ok" if ok else "unavailable", "detail": detail})
            elif self.path == "/metrics":
                if not metrics_allowed(settings.metrics_token, self.headers.get("Authorization", "")):
                    self._json(401, {"status": "unauthorized"})
                    return
                body, content_type = metrics_for_process().render()
                self._send(200, body, content_type)
            else:
                self._json(404, {"status": "not found"})

        def _json(self, status: int, body: dict[str, Any]) -> None:
            self._send(status, json.dumps(body).encode(), "application/json")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("worker health: %s", format % args)

    return Handler


def start_health_server(
    settings: Settings, expected: int, alive: Callable[[], int] = worker_processes_alive
) -> ThreadingHTTPServer | None:
    """Serve the worker health endpoints on settings.worker_health_port (None when off or the port is taken)."""
    if settings.worker_health_port <= 0:
        return None
    try:
        server = ThreadingHTTPServer(
            (settings.host, settings.worker_health_port), _handler(settings, expected, alive)
        )
    except OSError as exc:
        log.warning("worker health endpoint not started on port %d: %s", settings.worker_health_port, exc)
        return None
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="schedgen-worker-health", daemon=True).start()
    log.info("worker health on http://%s:%d/health", settings.host, server.server_address[1])
    return server
