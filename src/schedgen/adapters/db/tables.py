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
