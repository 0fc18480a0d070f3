"""Use cases of the web UI's timetables: create one from parse jobs, read it, save choices, build its .ics."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from schedgen.adapters.db import jobs as job_repo
from schedgen.adapters.db import timetables as repo
from schedgen.config import Settings
from schedgen.domain.choices import Choices, SavedTimetable, chosen_events
from schedgen.domain.events import Event, Timetable
from schedgen.domain.jobs import JobStatus
from schedgen.domain.preferences import Preferences
from schedgen.domain.terms import TermCalendar
from schedgen.errors import BadUploadError, JobNotFoundError
from schedgen.rendering.contract import timetable_from_dict, timetable_to_dict
from schedgen.rendering.ics import CalendarOptions, render_calendar
from schedgen.rendering.week import distinct_colours
from schedgen.services.calendars import terms_for

log = logging.getLogger(__name__)

ID_BYTES = 24  # secrets.token_urlsafe(24): 32 URL-safe characters, 192 random bits
SWEEP_BATCH = 100  # expired timetables deleted per new timetable
LOCAL_ZONE = ZoneInfo("Africa/Johannesburg")  # "today" for term dates is the day in South Africa
KEEP_STEP = dt.timedelta(days=1)  # a live feed's fetches push its timetable's expiry out at most this often


@dataclass(frozen=True)
class TimetableDeps:
    """What the timetable use cases touch, taken from the container."""

    settings: Settings
    sessions: sessionmaker[Session]
    clock: Callable[[], dt.datetime]

    def today(self) -> dt.date:
        """Today's date in South Africa."""
        return self.clock().astimezone(LOCAL_ZONE).date()


@dataclass(frozen=True, slots=True)
class SourceFile:
    """One uploaded PDF of a timetable, as its parse job stands."""

    job_id: str
    filename: str
    status: str  # pending | processing | completed | failed | missing
    kind: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    timetable: Timetable | None = None

    @property
    def finished(self) -> bool:
        """Completed, failed or gone: nothing more will happen to it."""
        return self.status in ("completed", "failed", "missing")


@dataclass(frozen=True, slots=True)
class TimetableView:
    """A stored timetable with its files, events, choices and options, ready for a page."""

    saved: SavedTimetable
    files: tuple[SourceFile, ...]
    choices: Choices
    preferences: Preferences

    @property
    def id(self) -> str:
        """The timetable's id."""
        return self.saved.id

    @property
    def ready(self) -> bool:
        """True once every file is parsed (or failed)."""
        return all(f.finished for f in self.files)

    @property
    def events(self) -> tuple[Event, ...]:
        """Every event of the parsed files, in upload order."""
        return tuple(e for f in self.files if f.timetable is not None for e in f.timetable.events)


def _expiry(deps: TimetableDeps, now: dt.datetime, job_expiry: Sequence[dt.datetime]) -> dt.datetime:
    """Retention after the last change, never beyond the parse jobs it needs."""
    return min([now + dt.timedelta(days=deps.settings.timetable_retention_days), *job_expiry])


def delete_expired_timetables(deps: TimetableDeps) -> int:
    """Delete a batch of expired timetables (the reconciler calls this every pass)."""
    with deps.sessions.begin() as session:
        return repo.delete_expired_timetables(session, now=deps.clock(), limit=SWEEP_BATCH)


def create_timetable(deps: TimetableDeps, job_ids: Sequence[str], owner: str | None) -> SavedTimetable:
    """A new timetable over one to three existing parse jobs of `owner` (the uploader's session), at a new
    unguessable id. Someone else's job is answered as a missing one: its id alone gives nobody its events."""
    wanted = tuple(dict.fromkeys(j.strip() for j in job_ids if j.strip()))
    if not 1 <= len(wanted) <= deps.settings.max_files_per_upload:
        raise BadUploadError()
    now = deps.clock()
    with deps.sessions.begin() as session:
        jobs = [job_repo.get_job(session, job_id) for job_id in wanted]
        if owner is None or any(job is None or job.owner != owner for job in jobs):
            raise JobNotFoundError()
        repo.delete_expired_timetables(session, now=now, limit=SWEEP_BATCH)
        return repo.insert_timetable(
            session,
            timetable_id=secrets.token_urlsafe(ID_BYTES),
            job_ids=wanted,
            options=Preferences(term_year=terms_today(deps).year).to_dict(),
            now=now,
            expires_at=_expiry(deps, now, [job.expires_at for job in jobs if job is not None]),
        )


def _source_to_dict(source: SourceFile) -> dict[str, Any]:
    return {
        "job_id": source.job_id,
        "filename": source.filename,
        "status": source.status,
        "kind": source.kind,
        "error_code": source.error_code,
        "error_message": source.error_message,
        "timetable": None if source.timetable is None else timetable_to_dict(source.timetable),
    }


def _source_from_dict(data: Mapping[str, Any]) -> SourceFile:
    timetable = data.get("timetable")
    return SourceFile(
        job_id=str(data["job_id"]),
        filename=str(data["filename"]),
        status=str(data["status"]),
        kind=data.get("kind"),
        error_code=data.get("error_code"),
        error_message=data.get("error_message"),
        timetable=None if timetable is None else timetable_from_dict(timetable),
    )


def _source(session: Session, job_id: str) -> SourceFile:
    job = job_repo.get_job(session, job_id)
    if job is None:
        return SourceFile(job_id, "", "missing")
    timetable = None
    if job.status is JobStatus.COMPLETED and job.result is not None:
        timetable = timetable_from_dict(job.result)
    return SourceFile(
        job_id=job.id,
        filename=job.filename,
        status=job.status.value,
        kind=job.kind,
        error_code=job.error_code if job.status is JobStatus.FAILED else None,
        error_message=job.error_message if job.status is JobStatus.FAILED else None,
        timetable=timetable,
    )


def load_timetable(deps: TimetableDeps, timetable_id: str) -> TimetableView | None:
    """The timetable with its files as they stand now, or None if unknown or expired."""
    if not timetable_id or len(timetable_id) > 64:
        return None
    with deps.sessions() as session:
        saved = repo.get_timetable(session, timetable_id, now=deps.clock())
        if saved is None:
            return None
        if saved.sources is not None:  # kept by a live feed: its own copy, whatever became of the jobs
            files = tuple(_source_from_dict(source) for source in saved.sources)
        else:
            files = tuple(_source(session, job_id) for job_id in saved.job_ids)
    return TimetableView(
        saved, files, Choices.from_dict(saved.selection), Preferences.from_dict(saved.options)
    )


def _job_expiry(session: Session, job_ids: Sequence[str]) -> list[dt.datetime]:
    jobs = (job_repo.get_job(session, job_id) for job_id in job_ids)
    return [job.expires_at for job in jobs if job is not None]


def keep_for_feed(deps: TimetableDeps, view: TimetableView) -> bool:
    """A live feed was made or fetched: keep the timetable `feed_idle_days` from now, with its own copy of
    its files, so it outlives its parse jobs for as long as a calendar app keeps fetching it. Writes at most
    once per KEEP_STEP per timetable; nothing while a file is still being read (the jobs keep it until
    then). True if the expiry was pushed out."""
    if not view.ready:
        return False
    now = deps.clock()
    keep_until = now + dt.timedelta(days=deps.settings.feed_idle_days)
    if view.saved.sources is not None and view.saved.expires_at > keep_until - KEEP_STEP:
        return False
    sources = [_source_to_dict(source) for source in view.files]
    with deps.sessions.begin() as session:
        return repo.keep_timetable(session, view.id, now=now, expires_at=keep_until, sources=sources)


def release_from_feed(session: Session, deps: TimetableDeps, timetable_id: str, now: dt.datetime) -> None:
    """Its feed was switched off: keep the timetable no longer than its retention from now (in `session`)."""
    repo.cut_timetable_short(session, timetable_id, now=now, expires_at=_expiry(deps, now, []))


def save_choices(deps: TimetableDeps, view: TimetableView, choices: Choices) -> bool:
    """Store new choices; False if the timetable has gone meanwhile."""
    return _update(deps, view, selection=choices.to_dict())


def save_preferences(deps: TimetableDeps, view: TimetableView, preferences: Preferences) -> bool:
    """Store new calendar options; False if the timetable has gone meanwhile."""
    return _update(deps, view, options=preferences.to_dict())


def _update(
    deps: TimetableDeps,
    view: TimetableView,
    *,
    selection: Mapping[str, object] | None = None,
    options: Mapping[str, object] | None = None,
) -> bool:
    """Store the given selection and/or options and push the expiry out; False if it has gone."""
    now = deps.clock()
    with deps.sessions.begin() as session:
        if view.saved.sources is None:
            expires = _expiry(deps, now, _job_expiry(session, view.saved.job_ids))
        else:  # it has its own copy of its files: no job bounds it, and a feed may keep it longer
            expires = max(view.saved.expires_at, _expiry(deps, now, []))
        return repo.update_timetable(
            session, view.id, now=now, expires_at=expires, selection=selection, options=options
        )


def terms_today(deps: TimetableDeps) -> TermCalendar:
    """The term calendar the pages use: the configured year's, else the current or next bundled one; a
    calendar without dates where none are bundled (the student gives them)."""
    return terms_for(deps.settings.term_year, deps.today(), ask_if_unknown=True)


def terms_of(deps: TimetableDeps, view: TimetableView) -> TermCalendar:
    """The term calendar of this timetable: of the year fixed when it was made (so a feed keeps its dates
    across New Year), or today's for a timetable made before years were fixed."""
    year = view.preferences.term_year
    return terms_for(year or deps.settings.term_year, deps.today(), ask_if_unknown=True)


def calendar_options(
    preferences: Preferences, generated_at: dt.datetime, events: Sequence[Event] = ()
) -> CalendarOptions:
    """The renderer's options for these preferences (colours as the pages show them for these events)."""
    return CalendarOptions(
        calendar_name=preferences.name,
        semester_overrides=dict(preferences.dates),
        skip_holidays=preferences.skip_holidays,
        exam_duration=dt.timedelta(hours=preferences.exam_hours),
        reminder_minutes=preferences.reminder_minutes,
        colours=distinct_colours((e.module for e in events), preferences.colours),
        generated_at=generated_at,
    )


def effective_terms(terms: TermCalendar, preferences: Preferences) -> TermCalendar:
    """The term calendar the renderer uses: without recess when the student keeps classes in recess."""
    return terms if preferences.skip_recess else dataclasses.replace(terms, recess=())


def export_events(view: TimetableView, terms: TermCalendar, today: dt.date) -> tuple[Event, ...]:
    """Exactly the events the pages show as chosen: what the .ics will hold."""
    return chosen_events(view.events, view.choices, terms, today)


def build_ics(deps: TimetableDeps, view: TimetableView) -> bytes:
    """The .ics of what is on screen, built by the core renderer (raises UnknownOfferingError)."""
    terms = terms_of(deps, view)
    events = export_events(view, terms, deps.today())
    options = calendar_options(view.preferences, view.saved.updated_at, view.events)
    return render_calendar(events, effective_terms(terms, view.preferences), options)
