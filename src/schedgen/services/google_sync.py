"""Use cases of Google Calendar sync: choose or create a calendar, sync a timetable (insert, update, delete
by deterministic ids), undo an import, and the background run behind both. Runs are idempotent: what to do
is worked out afresh from the timetable and the record of events we created, so running again is safe."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from schedgen.adapters.db import google as repo
from schedgen.adapters.db.google import SyncRecord, TrackedEvent
from schedgen.adapters.google_calendar import BatchCall, CalendarInfo, CallResult, calendar_path
from schedgen.domain.choices import period_of
from schedgen.errors import (
    JobNotFoundError,
    SchedgenError,
    SyncNotFoundError,
)
from schedgen.rendering.google_events import digest_of, google_events
from schedgen.rendering.ics import TIMEZONE
from schedgen.services import timetable_state as state
from schedgen.services.google_auth import GoogleDeps, with_token

log = logging.getLogger(__name__)

GONE = (404, 410)  # an event that is not (or no longer) there


@dataclass(slots=True)
class _Op:
    """One change to make: insert, update or delete an event."""

    kind: str
    event_id: str
    summary: str
    resource: dict[str, Any] | None = None

    def call(self, calendar_id: str) -> BatchCall:
        if self.kind == "insert":
            return BatchCall("POST", calendar_path(calendar_id, "events"), self.resource)
        method = "PUT" if self.kind == "update" else "DELETE"
        return BatchCall(method, calendar_path(calendar_id, "events", self.event_id), self.resource)


@dataclass(slots=True)
class _Progress:
    """Counts and problems of a run, saved after every batch."""

    counts: dict[str, int] = field(
        default_factory=lambda: {"inserted": 0, "updated": 0, "deleted": 0, "unchanged": 0, "failed": 0}
    )
    failures: list[dict[str, str]] = field(default_factory=list)
    done: int = 0

    def fail(self, op: _Op, result: CallResult) -> None:
        self.counts["failed"] += 1
        rate = result.status in (403, 429) and result.reason in (
            "rateLimitExceeded",
            "userRateLimitExceeded",
            "quotaExceeded",
        )
        code = "GOOGLE_QUOTA" if rate else "GOOGLE_REJECTED"
        message = (
            "Google kept asking us to slow down; sync again to add it."
            if rate
            else f"Google refused it ({result.status}): {result.message or 'no reason given'}"
        )
        self.failures.append({"summary": op.summary, "code": code, "message": message[:300]})


# --- calendars


def list_calendars(deps: GoogleDeps, account_id: str) -> list[CalendarInfo]:
    """The calendars the student may add events to."""
    return with_token(deps, account_id, deps.calendar.list_calendars)


def create_calendar(deps: GoogleDeps, account_id: str, name: str) -> CalendarInfo:
    """A new calendar in the student's account, in South African time."""
    return with_token(deps, account_id, lambda token: deps.calendar.create_calendar(token, name, TIMEZONE))


def dedicated_name(view: state.TimetableView, deps: GoogleDeps) -> str:
    """The name of a dedicated calendar for a timetable: "UP 2026 S2"."""
    tdeps = deps.timetables
    terms = state.terms_of(tdeps, view)
    lectures = [e for f in view.files if f.timetable for e in f.timetable.lectures]
    period = period_of(view.choices, lectures, terms, tdeps.today())
    return f"UP {terms.year} {period}"


def calendars_with_events(deps: GoogleDeps, account_id: str) -> dict[str, int]:
    """Calendars holding events this app created for the account, with how many (what undo can remove)."""
    with deps.sessions() as session:
        return repo.calendars_with_events(session, account_id)


# --- runs


def start_run(deps: GoogleDeps, kind: str, account_id: str, timetable_id: str, calendar_id: str) -> str:
    """Record a pending sync or undo and queue it; its id (the page polls it)."""
    sync_id = str(uuid.uuid4())
    with deps.sessions.begin() as session:
        repo.insert_sync(
            session,
            sync_id=sync_id,
            kind=kind,
            account_id=account_id,
            timetable_id=timetable_id,
            calendar_id=calendar_id,
            now=deps.clock(),
        )
    deps.queue.enqueue(sync_id)
    return sync_id


def requeue_stuck(deps: GoogleDeps, *, stuck_after: dt.timedelta, limit: int = 100) -> int:
    """Queue again the runs with no progress for `stuck_after` (the broker lost them or their worker died).

    A run is planned afresh from the calendar's state each time, so running one twice changes nothing more.
    Each re-queued run is marked as touched, so the next pass leaves it alone for another `stuck_after`.
    """
    now = deps.clock()
    with deps.sessions.begin() as session:
        ids = repo.stale_sync_ids(session, older_than=now - stuck_after, limit=limit)
        for sync_id in ids:
            repo.update_sync(session, sync_id, now=now)
    queued = 0
    for sync_id in ids:
        try:
            deps.queue.enqueue(sync_id)
        except SchedgenError:
            log.warning("Google run %s not re-queued; the next pass will try again", sync_id)
            continue
        queued += 1
    if queued:
        log.info("re-queued %d stuck Google runs", queued)
    return queued


def get_run(deps: GoogleDeps, sync_id: str, account_id: str) -> SyncRecord:
    """A run of this account; SyncNotFoundError otherwise."""
    with deps.sessions() as session:
        record = repo.get_sync(session, sync_id) if len(sync_id) <= 36 else None
    if record is None or record.account_id != account_id:
        raise SyncNotFoundError()
    return record


def latest_run(deps: GoogleDeps, account_id: str, timetable_id: str) -> SyncRecord | None:
    """The account's latest run for a timetable."""
    with deps.sessions() as session:
        return repo.latest_sync(session, account_id, timetable_id)


def run(deps: GoogleDeps, sync_id: str) -> None:
    """The background job: carry out a sync or undo run (a finished run is left alone)."""
    with deps.sessions.begin() as session:
        record = repo.get_sync(session, sync_id)
        if record is None or record.finished:
            return
        repo.update_sync(session, sync_id, now=deps.clock(), status="running")
    progress = _Progress()
    try:
        ops = _plan_sync(deps, record, progress) if record.kind == "sync" else _plan_undo(deps, record)
        _save(deps, sync_id, progress, total=len(ops))
        _apply(deps, record, ops, progress)
    except SchedgenError as exc:
        log.warning("Google %s %s failed: %s", record.kind, sync_id, exc.code)
        _save(deps, sync_id, progress, status="failed", error_code=exc.code, error_message=exc.message)
        return
    except Exception:  # a bug: record it so the page stops waiting
        log.exception("Google %s %s failed", record.kind, sync_id)
        error = SchedgenError()
        _save(deps, sync_id, progress, status="failed", error_code=error.code, error_message=error.message)
        return
    _save(deps, sync_id, progress, status="completed")


def _save(deps: GoogleDeps, sync_id: str, progress: _Progress, **values: Any) -> None:
    with deps.sessions.begin() as session:
        repo.update_sync(
            session,
            sync_id,
            now=deps.clock(),
            done=progress.done,
            counts=dict(progress.counts),
            failures=list(progress.failures),
            **values,
        )


def _tracked(deps: GoogleDeps, record: SyncRecord) -> dict[str, TrackedEvent]:
    with deps.sessions() as session:
        return repo.tracked_events(session, record.account_id, record.calendar_id)


def _plan_sync(deps: GoogleDeps, record: SyncRecord, progress: _Progress) -> list[_Op]:
    """Inserts for new events, updates for changed ones, deletes for ones the student removed."""
    view = state.load_timetable(deps.timetables, record.timetable_id)
    if view is None:
        raise JobNotFoundError("This timetable has expired. Upload it again to sync it.")
    desired = {r["id"]: r for r in google_events(state.build_ics(deps.timetables, view))}
    tracked = _tracked(deps, record)
    ops: list[_Op] = []
    for event_id, resource in desired.items():
        known = tracked.get(event_id)
        if known is None:
            ops.append(_Op("insert", event_id, resource["summary"], resource))
        elif known.digest != digest_of(resource) or known.timetable_id != record.timetable_id:
            ops.append(_Op("update", event_id, resource["summary"], resource))
        else:
            progress.counts["unchanged"] += 1
    for event_id, known in tracked.items():
        if event_id not in desired and known.timetable_id == record.timetable_id:
            ops.append(_Op("delete", event_id, known.summary))
    return ops


def _plan_undo(deps: GoogleDeps, record: SyncRecord) -> list[_Op]:
    """A delete for every event this app created in the calendar, and nothing else."""
    return [_Op("delete", e.event_id, e.summary) for e in _tracked(deps, record).values()]


def _apply(deps: GoogleDeps, record: SyncRecord, ops: Sequence[_Op], progress: _Progress) -> None:
    """Send the changes batch by batch, recording each outcome as it comes."""
    size = deps.calendar.batch_size
    for start in range(0, len(ops), size):
        chunk = list(ops[start : start + size])
        retry = _send(deps, record, chunk, progress, final=False)
        if retry:  # insert of an id Google already has (a deleted one, or a lost record): update instead
            _send(deps, record, retry, progress, final=True)
        progress.done += len(chunk)
        _save(deps, record.id, progress)


def _send(
    deps: GoogleDeps, record: SyncRecord, ops: list[_Op], progress: _Progress, *, final: bool
) -> list[_Op]:
    calls = [op.call(record.calendar_id) for op in ops]
    results = with_token(deps, record.account_id, lambda token: deps.calendar.batch(token, calls))
    retry: list[_Op] = []
    with deps.sessions.begin() as session:
        for op, result in zip(ops, results, strict=True):
            if not final and op.kind == "insert" and result.status == 409:
                retry.append(_Op("update", op.event_id, op.summary, op.resource))
            elif not final and op.kind == "update" and result.status in GONE:
                retry.append(_Op("insert", op.event_id, op.summary, op.resource))
            elif result.ok or (op.kind == "delete" and result.status in GONE):
                _record(session, record, op, deps)
                key = {"insert": "inserted", "update": "updated", "delete": "deleted"}[op.kind]
                progress.counts[key] += 1
            else:
                progress.fail(op, result)
    return retry


def _record(session: Any, record: SyncRecord, op: _Op, deps: GoogleDeps) -> None:
    if op.kind == "delete":
        repo.untrack_event(
            session, account_id=record.account_id, calendar_id=record.calendar_id, event_id=op.event_id
        )
        return
    assert op.resource is not None
    repo.track_event(
        session,
        account_id=record.account_id,
        calendar_id=record.calendar_id,
        event=TrackedEvent(op.event_id, record.timetable_id, digest_of(op.resource), op.summary),
        now=deps.clock(),
    )
