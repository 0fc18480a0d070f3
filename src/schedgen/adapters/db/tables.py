"""The `jobs` table as a SQLAlchemy declarative mapping, with a UTC datetime type for both engines."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {  # stable constraint names on both engines, so migrations can refer to them
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
JOB_STATUSES = ("pending", "processing", "completed", "failed")  # JobStatus values, checked by the table


class UTCDateTime(sa.TypeDecorator[dt.datetime]):
    """A timezone-aware datetime stored in UTC; SQLite's naive values come back as aware UTC."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        """Refuse naive datetimes; store aware ones in UTC (without tzinfo on SQLite)."""
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} given; pass an aware one (UTC)")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        """Aware UTC, whatever the engine returned."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    """Declarative base of schedgen's tables."""

    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class JobRow(Base):
    """One parse job; adapters/db/jobs.py turns rows into domain Jobs."""

    __tablename__ = "jobs"
    __table_args__ = (
        sa.CheckConstraint(sa.column("status").in_(JOB_STATUSES), name="status"),
        sa.Index("ix_jobs_status_available_at", "status", "available_at"),  # counts, claims, reconciler
        sa.Index("ix_jobs_owner_created_at", "owner", "created_at"),  # a user's jobs, quotas
        sa.Index("ix_jobs_expires_at", "expires_at"),  # retention sweep
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)  # UUID4 text
    status: Mapped[str] = mapped_column(sa.String(16))
    priority: Mapped[int] = mapped_column(sa.SmallInteger)
    owner: Mapped[str] = mapped_column(sa.String(128))
    filename: Mapped[str] = mapped_column(sa.String(255))
    blob_key: Mapped[str | None] = mapped_column(sa.String(255))
    size: Mapped[int] = mapped_column(sa.Integer)
    kind: Mapped[str | None] = mapped_column(sa.String(16))
    result: Mapped[dict[str, Any] | None] = mapped_column(
        sa.JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
    )
    error_code: Mapped[str | None] = mapped_column(sa.String(64))
    error_message: Mapped[str | None] = mapped_column(sa.Text)
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0, server_default=sa.text("0"))
    worker: Mapped[str | None] = mapped_column(sa.String(128))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, server_default=sa.func.current_timestamp())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, server_default=sa.func.current_timestamp())
    available_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # when it finished (or failed)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


def jobs_table() -> sa.Table:
    """The Core Table behind JobRow (queries use Core, so no ORM identity map goes stale)."""
    return cast(sa.Table, JobRow.__table__)


class TimetableRow(Base):
    """One student's timetable in the web UI: its parse jobs, choices and calendar options (JSON)."""

    __tablename__ = "timetables"
    __table_args__ = (sa.Index("ix_timetables_expires_at", "expires_at"),)  # retention sweep

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)  # token_urlsafe(24): unguessable
    job_ids: Mapped[list[str]] = mapped_column(sa.JSON)  # its parse jobs, in upload order
    selection: Mapped[dict[str, Any]] = mapped_column(sa.JSON)  # domain.choices.Choices.to_dict()
    options: Mapped[dict[str, Any]] = mapped_column(sa.JSON)  # domain.preferences.Preferences.to_dict()
    # A copy of its files as read (services.timetable_state), taken once a live feed keeps the timetable
    # beyond its parse jobs; None: the files are read from the jobs.
    sources: Mapped[list[dict[str, Any]] | None] = mapped_column(sa.JSON(none_as_null=True), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, server_default=sa.func.current_timestamp())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, server_default=sa.func.current_timestamp())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


def timetables_table() -> sa.Table:
    """The Core Table behind TimetableRow."""
    return cast(sa.Table, TimetableRow.__table__)


# --- google + feeds (issue 6)
SYNC_STATUSES = ("pending", "running", "completed", "failed")  # google_syncs.status
SYNC_KINDS = ("sync", "undo")


class FeedRow(Base):
    """A live calendar feed of a timetable; only the SHA-256 of its secret token is stored."""

    __tablename__ = "feeds"
    __table_args__ = (sa.Index("ix_feeds_timetable_id", "timetable_id"),)

    token_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)  # sha256 hex of the token
    timetable_id: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # None: live


class GoogleAccountRow(Base):
    """A Google account that signed in; its tokens are Fernet-encrypted (None after sign-out)."""

    __tablename__ = "google_accounts"

    id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)  # Google's stable `sub`
    email: Mapped[str] = mapped_column(sa.String(320))  # shown as "signed in as"
    access_token: Mapped[str | None] = mapped_column(sa.Text)  # encrypted
    refresh_token: Mapped[str | None] = mapped_column(sa.Text)  # encrypted
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    scopes: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class GoogleEventRow(Base):
    """An event this app created in a Google calendar (what undo removes, what a re-sync compares)."""

    __tablename__ = "google_events"

    account_id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    calendar_id: Mapped[str] = mapped_column(sa.String(1024), primary_key=True)
    event_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)  # deterministic, from our UID
    timetable_id: Mapped[str] = mapped_column(sa.String(64))
    digest: Mapped[str] = mapped_column(sa.String(64))  # sha256 of the event body we sent
    summary: Mapped[str] = mapped_column(sa.String(255))
    synced_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class GoogleSyncRow(Base):
    """One sync or undo run: the background job's state, progress and per-event problems."""

    __tablename__ = "google_syncs"
    __table_args__ = (
        sa.CheckConstraint(sa.column("status").in_(SYNC_STATUSES), name="status"),
        sa.CheckConstraint(sa.column("kind").in_(SYNC_KINDS), name="kind"),
        sa.Index("ix_google_syncs_account_id_created_at", "account_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)  # UUID4 text
    kind: Mapped[str] = mapped_column(sa.String(8))
    account_id: Mapped[str] = mapped_column(sa.String(255))
    timetable_id: Mapped[str] = mapped_column(sa.String(64))
    calendar_id: Mapped[str] = mapped_column(sa.String(1024))
    status: Mapped[str] = mapped_column(sa.String(16))
    total: Mapped[int] = mapped_column(sa.Integer, default=0)
    done: Mapped[int] = mapped_column(sa.Integer, default=0)
    counts: Mapped[dict[str, Any]] = mapped_column(sa.JSON)  # inserted, updated, deleted, unchanged, failed
    failures: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON)  # [{summary, code, message}]
    error_code: Mapped[str | None] = mapped_column(sa.String(64))
    error_message: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


def table_of(row: type[Base]) -> sa.Table:
    """The Core Table behind a mapped class."""
    return cast(sa.Table, row.__table__)
