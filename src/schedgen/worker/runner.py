"""Running workers: in-process threads (embedded mode) or supervised worker processes (schedgen worker)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import multiprocessing
import multiprocessing.connection
import signal
import threading
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from types import FrameType

import dramatiq
from pydantic import SecretStr

from schedgen.adapters.logs import configure_logging, job_context
from schedgen.adapters.memory import freeze_startup_objects, limit_malloc_arenas
from schedgen.adapters.queue import build_rate_limiter, register_actors
from schedgen.bootstrap import Container, build
from schedgen.config import Settings
from schedgen.domain.jobs import JobPriority
from schedgen.services import google_sync, timetable_state
from schedgen.services.jobs import process_job
from schedgen.services.maintenance import reconcile
from schedgen.worker.google import register_google_sync

log = logging.getLogger(__name__)

RESTART_PAUSE_S = 1.0  # wait this long before restarting a worker process that died


RATE_LIMITED_DELAY_MS = 1000  # a job over the processing-rate cap waits this long and is queued again


def start_workers(container: Container, threads: int) -> dramatiq.Worker:
    """Register the actors on the container's broker and start consuming in this process."""
    limiter = build_rate_limiter(container.settings, container.broker)
    if container.zygote is not None:
        container.zygote.start()

    def handler_for(priority: JobPriority) -> Callable[[str], None]:
        def handle(job_id: str) -> None:
            with job_context(job_id):  # every log line of this job carries its id
                if limiter is None:
                    process_job(container.jobs, job_id)
                    return
                with limiter.acquire(raise_on_failure=False) as acquired:
                    if acquired:
                        process_job(container.jobs, job_id)
                        return
                container.queue.enqueue(job_id, priority, RATE_LIMITED_DELAY_MS)

        return handle

    register_actors(container.broker, handler_for, container.settings)
    register_google_sync(container)
    # How long idle consumers wait per poll: short in-process (a quick shutdown), longer on Redis (fewer calls).
    poll_ms = 100 if container.settings.embedded else 1000
    worker = dramatiq.Worker(container.broker, worker_threads=threads, worker_timeout=poll_ms)
    worker.start()
    return worker


class Reconciler:
    """Runs the reconcile pass every interval on a daemon thread until stopped."""

    def __init__(self, container: Container) -> None:
        self.container = container
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="schedgen-reconciler", daemon=True)

    def start(self) -> None:
        """Run a first pass at once (a restart resumes pending jobs), then every interval."""
        self.thread.start()

    def stop(self) -> None:
        """Stop after the current pass."""
        self.stopped.set()
        self.thread.join(timeout=10)

    def _loop(self) -> None:
        while not self.stopped.is_set():
            self.run_once()
            self.stopped.wait(self.container.settings.reconcile_interval_s)

    def run_once(self) -> None:
        """One pass: parse jobs, then stuck Google runs, then expired timetables (each failure logged)."""
        container = self.container
        settings = container.settings
        steps: list[tuple[str, Callable[[], object]]] = [("jobs", lambda: reconcile(container.jobs))]
        google = container.google
        if google is not None:
            stuck = dt.timedelta(seconds=settings.stuck_pending_after_s)
            steps.append(("google runs", lambda: google_sync.requeue_stuck(google, stuck_after=stuck)))
            steps.append(("timetables", lambda: timetable_state.delete_expired_timetables(google.timetables)))
        for name, step in steps:
            try:
                step()
            except Exception:  # never let maintenance kill the process; try again next time
                log.exception("reconcile pass failed (%s)", name)


def settings_payload(settings: Settings) -> str:
    """Settings as JSON for a child process, secrets included (it travels over a pipe, never to a log)."""
    data = settings.model_dump(mode="python")
    for name, value in data.items():
        if isinstance(value, SecretStr):
            data[name] = value.get_secret_value()
    return json.dumps(data, default=str)


def _child(settings_json: str, threads: int) -> None:
    """One worker process: build its own container, consume until SIGTERM/SIGINT."""
    limit_malloc_arenas()  # before any thread starts
    settings = Settings(**json.loads(settings_json))
    configure_logging(settings)  # JSON lines, like the API
    # A worker answers no status reads, so it keeps no near copy of the job cache (only the API fills one).
    container = build(settings.model_copy(update={"job_cache_near_bytes": 0}), migrate=False)
    worker = start_workers(container, threads)
    reconciler = Reconciler(container)
    reconciler.start()
    freeze_startup_objects()  # full collections no longer walk what lives as long as the process
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    stop.wait()
    reconciler.stop()
    worker.stop(timeout=30_000)
    container.close()


def supervise(settings: Settings, processes: int, threads: int, *, should_stop: Callable[[], bool]) -> None:
    """Keep `processes` worker processes alive (restarting any that dies) until should_stop() is true."""
    context = multiprocessing.get_context("spawn")
    payload = settings_payload(settings)
    children: list[BaseProcess] = []

    def spawn() -> BaseProcess:
        child = context.Process(target=_child, args=(payload, threads), name="schedgen-worker", daemon=False)
        child.start()
        log.info("worker process %s started", child.pid)
        return child

    children = [spawn() for _ in range(processes)]
    try:
        while not should_stop():
            for index, child in enumerate(children):
                if not child.is_alive():
                    log.warning("worker process %s exited with %s; restarting", child.pid, child.exitcode)
                    children[index] = spawn()
            multiprocessing.connection.wait([c.sentinel for c in children], timeout=RESTART_PAUSE_S)
    finally:
        for child in children:
            child.terminate()
        for child in children:
            child.join(timeout=35)
