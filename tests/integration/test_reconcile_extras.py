"""The reconciler beyond parse jobs: stuck Google runs are queued again, expired timetables deleted."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from schedgen.adapters.db import google as google_repo
from schedgen.adapters.db import timetables as timetable_repo
from schedgen.bootstrap import Container, build
from schedgen.config import Settings
from schedgen.services import google_sync, timetable_state
from schedgen.worker.runner import Reconciler

T0 = dt.datetime(2026, 11, 22, 9, 0, tzinfo=dt.UTC)
STUCK = dt.timedelta(seconds=60)


class RecordingQueue:
    """Remembers what would have been queued."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def enqueue(self, sync_id: str) -> None:
        self.sent.append(sync_id)


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def container(tmp_path: Path) -> Iterator[Container]:
    built = build(Settings(data_dir=tmp_path / "data", stuck_pending_after_s=STUCK.total_seconds()))
    yield built
    built.close()


def _add_run(container: Container, sync_id: str, status: str, at: dt.datetime) -> None:
    with container.sessions.begin() as session:
        google_repo.insert_sync(
            session,
            sync_id=sync_id,
            kind="sync",
            account_id="acct",
            timetable_id="tt",
            calendar_id="cal",
            now=at,
        )
        google_repo.update_sync(session, sync_id, now=at, status=status)


def test_stuck_runs_are_queued_again_once_per_interval(container: Container) -> None:
    assert container.google is not None
    queue, clock = RecordingQueue(), Clock()
    deps = dataclasses.replace(container.google, queue=queue, clock=clock)  # type: ignore[arg-type]
    _add_run(container, "lost", "pending", T0)
    _add_run(container, "dead-worker", "running", T0)
    _add_run(container, "done", "completed", T0)
    _add_run(container, "fresh", "pending", T0 + STUCK)
    clock.now = T0 + STUCK
    assert google_sync.requeue_stuck(deps, stuck_after=STUCK) == 2
    assert sorted(queue.sent) == ["dead-worker", "lost"]
    assert google_sync.requeue_stuck(deps, stuck_after=STUCK) == 0  # just touched: not again yet
    clock.now = T0 + 2 * STUCK
    assert google_sync.requeue_stuck(deps, stuck_after=STUCK) == 3  # the fresh one is stuck by now too
    assert sorted(queue.sent[2:]) == ["dead-worker", "fresh", "lost"]


def test_reconciler_pass_requeues_runs_and_deletes_expired_timetables(container: Container) -> None:
    assert container.google is not None
    queue = RecordingQueue()
    now = container.jobs.clock()
    container.google = dataclasses.replace(container.google, queue=queue)  # type: ignore[arg-type]
    _add_run(container, "lost", "pending", now - 2 * STUCK)
    with container.sessions.begin() as session:
        for name, expires in (("old", now - dt.timedelta(minutes=1)), ("live", now + dt.timedelta(days=1))):
            timetable_repo.insert_timetable(
                session, timetable_id=name, job_ids=["j"], now=now - dt.timedelta(days=8), expires_at=expires
            )
    Reconciler(container).run_once()
    assert queue.sent == ["lost"]
    timetables = container.google.timetables
    with container.sessions() as session:
        left = {row.id for row in session.execute(timetable_repo.timetables_table().select())}
    assert left == {"live"}
    assert timetable_state.delete_expired_timetables(timetables) == 0
