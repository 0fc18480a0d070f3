"""The timetables queries and use cases on SQLite and PostgreSQL: create, read, save, expire."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from schedgen.adapters.db import jobs as job_repo
from schedgen.adapters.db import timetables as repo
from schedgen.adapters.db.engine import build_engine, session_factory
from schedgen.adapters.db.migrate import upgrade
from schedgen.adapters.termdata import load_terms
from schedgen.config import Settings
from schedgen.domain.choices import Choices
from schedgen.domain.events import Kind, TestSitting, Timetable
from schedgen.domain.jobs import NewJob
from schedgen.domain.preferences import Preferences
from schedgen.errors import BadUploadError, FeedNotFoundError, FeedRevokedError, JobNotFoundError
from schedgen.rendering.contract import timetable_to_dict
from schedgen.services import feeds
from schedgen.services import timetable_state as state

T0 = dt.datetime(2026, 8, 3, 8, 0, tzinfo=dt.UTC)


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    url = (
        f"sqlite:///{tmp_path / 'db.sqlite'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    built = build_engine(Settings(database_url=url))
    upgrade(built)
    yield built
    built.dispose()


@pytest.fixture
def deps(engine: sa.Engine, tmp_path: Path) -> state.TimetableDeps:
    return state.TimetableDeps(
        Settings(data_dir=tmp_path, timetable_retention_days=7), session_factory(engine), Clock()
    )


def add_job(deps: state.TimetableDeps, expires_in: dt.timedelta = dt.timedelta(days=7)) -> str:
    job_id = str(uuid.uuid4())
    new = NewJob(job_id, "anon:x", "UP_MOD_XLS.pdf", f"uploads/{job_id}.pdf", 10, T0, T0 + expires_in)
    with deps.sessions.begin() as session:
        job_repo.insert_job(session, new)
    return job_id


def test_create_read_save_round_trip(deps: state.TimetableDeps) -> None:
    job_id = add_job(deps)
    saved = state.create_timetable(deps, [job_id, job_id], "anon:x")
    assert len(saved.id) == 32
    assert saved.job_ids == (job_id,)
    assert saved.expires_at == T0 + dt.timedelta(days=7)
    view = state.load_timetable(deps, saved.id)
    assert view is not None
    assert view.choices == Choices()
    assert view.preferences == Preferences(term_year=2026)  # the year it was made for: fixed
    assert [f.status for f in view.files] == ["pending"]
    assert not view.ready
    choices = Choices(groups={"COS214:practical": "P02"}, period="S2")
    prefs = Preferences(name="Mine", reminder_minutes=10)
    assert state.save_choices(deps, view, choices)
    assert state.save_preferences(deps, view, prefs)
    again = state.load_timetable(deps, saved.id)
    assert again is not None
    assert (again.choices, again.preferences) == (choices, prefs)


def test_expiry_follows_retention_but_never_outlives_its_jobs(deps: state.TimetableDeps) -> None:
    short = add_job(deps, expires_in=dt.timedelta(days=2))
    saved = state.create_timetable(deps, [add_job(deps), short], "anon:x")
    assert saved.expires_at == T0 + dt.timedelta(days=2)
    assert isinstance(deps.clock, Clock)
    deps.clock.now = T0 + dt.timedelta(days=2)
    assert state.load_timetable(deps, saved.id) is None
    with deps.sessions.begin() as session:
        assert repo.delete_expired_timetables(session, now=deps.clock.now, limit=10) == 1


def test_create_refuses_unknown_jobs_and_bad_counts(deps: state.TimetableDeps) -> None:
    with pytest.raises(JobNotFoundError):
        state.create_timetable(deps, [str(uuid.uuid4())], "anon:x")
    with pytest.raises(JobNotFoundError):  # someone else's job: answered as missing
        state.create_timetable(deps, [add_job(deps)], "anon:someone-else")
    with pytest.raises(JobNotFoundError):  # no session at all
        state.create_timetable(deps, [add_job(deps)], None)
    with pytest.raises(BadUploadError):
        state.create_timetable(deps, [], "anon:x")
    with pytest.raises(BadUploadError):
        state.create_timetable(deps, [add_job(deps) for _ in range(4)], "anon:x")
    assert state.load_timetable(deps, "x" * 65) is None
    assert state.load_timetable(deps, "") is None


def test_a_deleted_job_shows_as_missing(deps: state.TimetableDeps) -> None:
    job_id = add_job(deps)
    saved = state.create_timetable(deps, [job_id], "anon:x")
    with deps.sessions.begin() as session:
        job_repo.delete_job(session, job_id)
    view = state.load_timetable(deps, saved.id)
    assert view is not None
    assert [f.status for f in view.files] == ["missing"]
    assert view.ready
    assert view.events == ()


# --- live feeds keep their timetable --------------------------------------------------------------------

SITTING = TestSitting(
    "COS 214",
    "Test1",
    "Monday",
    dt.date(2026, 9, 14),
    dt.time(17, 30),
    dt.time(19, 0),
    ("IT 4-1",),
    "Hatfield",
)


def complete_job(deps: state.TimetableDeps, job_id: str) -> None:
    with deps.sessions.begin() as session:
        claimed = job_repo.claim_job(session, job_id, now=T0, worker="w", stale_after=dt.timedelta(minutes=5))
        assert claimed is not None
        result = timetable_to_dict(Timetable(Kind.TESTS, (SITTING,)))
        assert job_repo.complete_job(session, job_id, worker="w", kind="tests", result=result, now=T0)


def expiry(deps: state.TimetableDeps, timetable_id: str) -> dt.datetime:
    view = state.load_timetable(deps, timetable_id)
    assert view is not None
    return view.saved.expires_at


def test_a_fetched_feed_keeps_its_timetable_beyond_its_jobs_until_fetches_stop(
    deps: state.TimetableDeps,
) -> None:
    assert isinstance(deps.clock, Clock)
    job_id = add_job(deps)
    complete_job(deps, job_id)
    saved = state.create_timetable(deps, [job_id], "anon:x")
    assert saved.expires_at == T0 + dt.timedelta(days=7)
    token = feeds.create_feed(deps, saved.id)
    assert expiry(deps, saved.id) == T0 + dt.timedelta(days=30)  # feed_idle_days
    first = feeds.render_feed(deps, token)
    assert b"COS 214" in first.body

    deps.clock.now = T0 + dt.timedelta(days=8)  # the parse job's retention is over: the sweep deletes it
    with deps.sessions.begin() as session:
        assert [job.id for job in job_repo.expired_jobs(session, now=deps.clock.now, limit=10)] == [job_id]
        job_repo.delete_job(session, job_id)
    later = feeds.render_feed(deps, token)
    assert (later.body, later.etag, later.last_modified) == (first.body, first.etag, first.last_modified)
    assert expiry(deps, saved.id) == T0 + dt.timedelta(days=38)

    deps.clock.now += dt.timedelta(hours=20)  # fetched again within a day: no write
    feeds.render_feed(deps, token)
    assert expiry(deps, saved.id) == T0 + dt.timedelta(days=38)

    deps.clock.now = T0 + dt.timedelta(days=38)  # no fetch for feed_idle_days: gone
    with pytest.raises(FeedNotFoundError, match="expired"):
        feeds.render_feed(deps, token)


def test_changes_never_cut_short_a_timetable_kept_by_its_feed(deps: state.TimetableDeps) -> None:
    assert isinstance(deps.clock, Clock)
    job_id = add_job(deps)
    complete_job(deps, job_id)
    saved = state.create_timetable(deps, [job_id], "anon:x")
    feeds.create_feed(deps, saved.id)
    deps.clock.now = T0 + dt.timedelta(days=1)
    view = state.load_timetable(deps, saved.id)
    assert view is not None
    assert state.save_choices(deps, view, Choices(period="S2"))
    assert expiry(deps, saved.id) == T0 + dt.timedelta(days=30)  # not day 1 + 7
    with deps.sessions.begin() as session:
        job_repo.delete_job(session, job_id)
    deps.clock.now = T0 + dt.timedelta(days=29)
    view = state.load_timetable(deps, saved.id)
    assert view is not None
    assert [f.status for f in view.files] == ["completed"]  # its own copy, not the deleted job
    assert view.events == (SITTING,)
    assert state.save_preferences(deps, view, Preferences(name="Mine"))
    assert expiry(deps, saved.id) == T0 + dt.timedelta(days=36)  # day 29 + 7: no job bounds it now


def test_a_timetable_still_being_read_or_with_a_revoked_feed_is_not_kept(deps: state.TimetableDeps) -> None:
    assert isinstance(deps.clock, Clock)
    pending = add_job(deps)
    waiting = state.create_timetable(deps, [pending], "anon:x")
    token = feeds.create_feed(deps, waiting.id)
    feeds.render_feed(deps, token)
    assert expiry(deps, waiting.id) == T0 + dt.timedelta(days=7)  # its job keeps it until it is read

    job_id = add_job(deps)
    complete_job(deps, job_id)
    saved = state.create_timetable(deps, [job_id], "anon:x")
    token = feeds.create_feed(deps, saved.id)
    deps.clock.now = T0 + dt.timedelta(days=3)
    assert feeds.revoke_feed(deps, saved.id)
    assert expiry(deps, saved.id) == T0 + dt.timedelta(days=10)  # day 3 + 7, not the feed's day 30
    deps.clock.now = T0 + dt.timedelta(days=5)
    with pytest.raises(FeedRevokedError):
        feeds.render_feed(deps, token)
    assert expiry(deps, saved.id) == T0 + dt.timedelta(days=10)  # a revoked link's fetches keep nothing
    assert not feeds.revoke_feed(deps, saved.id)  # nothing left to switch off


def test_a_timetable_keeps_the_term_year_it_was_made_in_across_new_year(
    engine: sa.Engine, tmp_path: Path
) -> None:
    clock = Clock()
    settings = Settings(data_dir=tmp_path, term_year=None, timetable_retention_days=365)
    deps = state.TimetableDeps(settings, session_factory(engine), clock)
    job_id = add_job(deps, expires_in=dt.timedelta(days=365))
    saved = state.create_timetable(deps, [job_id], "anon:x")
    clock.now = dt.datetime(2027, 1, 15, 8, 0, tzinfo=dt.UTC)  # a feed is still fetched in January
    view = state.load_timetable(deps, saved.id)
    assert view is not None
    assert state.terms_of(deps, view) == load_terms(2026)
    assert state.terms_today(deps).year == 2027  # a timetable made now would take 2027's dates
    assert state.save_choices(deps, view, Choices(period="S2"))
    again = state.load_timetable(deps, saved.id)
    assert again is not None
    assert again.preferences.term_year == 2026  # saving keeps it
