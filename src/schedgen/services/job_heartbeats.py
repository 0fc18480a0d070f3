"""Keeping a worker's claims alive while its jobs run: one thread per process renews all of them.

A claim whose `updated_at` is older than the heartbeat timeout belongs to a dead worker and may be taken
by another (services.jobs.process_job, the reconciler). A parse is bounded at 5 s, but reading a PDF from
a slow store can take longer; renewing every third of the timeout keeps a slow-but-alive job its own.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)


class Heartbeats:
    """The jobs this process is running, renewed together every interval by one short-lived thread."""

    def __init__(self) -> None:
        self._running: set[str] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._renew: Callable[[list[str]], None] = lambda ids: None
        self._interval_s = 10.0

    @contextmanager
    def running(self, job_id: str, renew: Callable[[list[str]], None], interval_s: float) -> Iterator[None]:
        """Renew this job's claim with `renew(ids)` every `interval_s` seconds until the block ends."""
        with self._lock:
            self._running.add(job_id)
            self._renew, self._interval_s = renew, interval_s
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="schedgen-heartbeats", daemon=True)
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                self._running.discard(job_id)

    def _loop(self) -> None:
        pause = threading.Event()
        while True:
            pause.wait(self._interval_s)
            with self._lock:
                ids = sorted(self._running)
                if not ids:  # nothing running: end; the next job starts a new thread
                    self._thread = None
                    return
                renew = self._renew
            try:
                renew(ids)
            except Exception:  # a missed beat is retried next interval; never kill the thread
                log.warning("could not renew the claims of %d running jobs", len(ids), exc_info=True)
