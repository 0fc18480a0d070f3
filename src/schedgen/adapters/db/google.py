"""Google queries: accounts (encrypted tokens), events we created, and sync runs; they never commit."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from schedgen.adapters.db.tables import GoogleAccountRow, GoogleEventRow, GoogleSyncRow, table_of


@dataclass(frozen=True, slots=True)
class AccountRecord:
    """A Google account as stored: tokens still encrypted."""

    id: str
    email: str
    access_token: str | None
    refresh_token: str | None
    expires_at: dt.datetime | None
    scopes: str


@dataclass(frozen=True, slots=True)
class TrackedEvent:
    """An event this app created in a calendar."""

    event_id: str
    timetable_id: str
    digest: str
    summary: str


@dataclass(frozen=True, slots=True)
class SyncRecord:
    """A sync or undo run."""

    id: str
    kind: str
    account_id: str
    timetable_id: str
    calendar_id: str
    status: str
    total: int
    done: int
    counts: Mapping[str, int] = field(default_factory=dict)
    failures: Sequence[Mapping[str, str]] = ()
    error_code: str | None = None
    error_message: str | None = None
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None

    @property
    def finished(self) -> bool:
        """Completed or failed."""
        return self.status in ("completed", "failed")


# --- accounts


def save_account(
    session: Session,
    *,
    account_id: str,
    email: str,
    access_token: str,
    refresh_token: str | None,
    expires_at: dt.datetime,
    scopes: str,
    now: dt.datetime,
) -> None:
    """Insert or update an account with fresh (encrypted) tokens; keep the old refresh token if none came."""
    table = table_of(GoogleAccountRow)
    existing = session.execute(sa.select(table.c.id).where(table.c.id == account_id)).one_or_none()
    values: dict[str, Any] = {
        "email": email,
        "access_token": access_token,
        "expires_at": expires_at,
        "scopes": scopes,
        "updated_at": now,
    }
    if refresh_token is not None:
        values["refresh_token"] = refresh_token
    if existing is None:
        session.execute(sa.insert(table).values(id=account_id, created_at=now, **values))
    else:
        session.execute(sa.update(table).where(table.c.id == account_id).values(**values))


def get_account(session: Session, account_id: str) -> AccountRecord | None:
    """The account, or None."""
    table = table_of(GoogleAccountRow)
    row = session.execute(sa.select(table).where(table.c.id == account_id)).one_or_none()
    if row is None:
        return None
    v = row._mapping
    return AccountRecord(
        v["id"], v["email"], v["access_token"], v["refresh_token"], v["expires_at"], v["scopes"]
    )


def update_access_token(
    session: Session,
    account_id: str,
    *,
    access_token: str,
    refresh_token: str | None,
    expires_at: dt.datetime,
    now: dt.datetime,
) -> None:
    """Store a refreshed access token (and a rotated refresh token, if Google sent one)."""
    table = table_of(GoogleAccountRow)
    values: dict[str, Any] = {"access_token": access_token, "expires_at": expires_at, "updated_at": now}
    if refresh_token is not None:
        values["refresh_token"] = refresh_token
    session.execute(sa.update(table).where(table.c.id == account_id).values(**values))


def clear_tokens(session: Session, account_id: str, *, now: dt.datetime) -> None:
    """Forget an account's tokens (sign-out, revoked grant); the events we created stay tracked."""
    table = table_of(GoogleAccountRow)
    session.execute(
        sa.update(table)
        .where(table.c.id == account_id)
        .values(access_token=None, refresh_token=None, expires_at=None, updated_at=now)
    )


def delete_account(session: Session, account_id: str) -> None:
    """Delete an account and everything stored about it."""
    for row, column in (
        (GoogleEventRow, "account_id"),
        (GoogleSyncRow, "account_id"),
        (GoogleAccountRow, "id"),
    ):
        table = table_of(row)
        session.execute(sa.delete(table).where(table.c[column] == account_id))


# --- events we created


def tracked_events(session: Session, account_id: str, calendar_id: str) -> dict[str, TrackedEvent]:
    """Events this app created in one calendar, by event id."""
    table = table_of(GoogleEventRow)
    rows = session.execute(
        sa.select(table).where(table.c.account_id == account_id, table.c.calendar_id == calendar_id)
    ).all()
    events = (
        TrackedEvent(m["event_id"], m["timetable_id"], m["digest"], m["summary"])
        for m in (row._mapping for row in rows)
    )
    return {event.event_id: event for event in events}


def calendars_with_events(session: Session, account_id: str) -> dict[str, int]:
    """Calendars holding events this app created, with how many."""
    table = table_of(GoogleEventRow)
    rows = session.execute(
        sa.select(table.c.calendar_id, sa.func.count())
        .where(table.c.account_id == account_id)
        .group_by(table.c.calendar_id)
    ).all()
    return {str(calendar): int(count) for calendar, count in rows}


def track_event(
    session: Session,
    *,
    account_id: str,
    calendar_id: str,
    event: TrackedEvent,
    now: dt.datetime,
) -> None:
    """Record (or update) an event we created."""
    table = table_of(GoogleEventRow)
    key = (
        (table.c.account_id == account_id)
        & (table.c.calendar_id == calendar_id)
        & (table.c.event_id == event.event_id)
    )
    values = {
        "timetable_id": event.timetable_id,
        "digest": event.digest,
        "summary": event.summary[:255],
        "synced_at": now,
    }
    result = cast("sa.CursorResult[Any]", session.execute(sa.update(table).where(key).values(**values)))
    if result.rowcount == 0:
        session.execute(
            sa.insert(table).values(
                account_id=account_id, calendar_id=calendar_id, event_id=event.event_id, **values
            )
        )


def untrack_event(session: Session, *, account_id: str, calendar_id: str, event_id: str) -> None:
    """Forget an event we deleted."""
    table = table_of(GoogleEventRow)
    session.execute(
        sa.delete(table).where(
            table.c.account_id == account_id,
            table.c.calendar_id == calendar_id,
            table.c.event_id == event_id,
        )
    )


# --- sync runs


def insert_sync(
    session: Session,
    *,
    sync_id: str,
    kind: str,
    account_id: str,
    timetable_id: str,
    calendar_id: str,
    now: dt.datetime,
) -> None:
    """Store a new pending run."""
    session.execute(
        sa.insert(table_of(GoogleSyncRow)).values(
            id=sync_id,
            kind=kind,
            account_id=account_id,
            timetable_id=timetable_id,
            calendar_id=calendar_id,
            status="pending",
            total=0,
            done=0,
            counts={},
            failures=[],
            created_at=now,
            updated_at=now,
        )
    )


def get_sync(session: Session, sync_id: str) -> SyncRecord | None:
    """The run, or None."""
    table = table_of(GoogleSyncRow)
    row = session.execute(sa.select(table).where(table.c.id == sync_id)).one_or_none()
    return None if row is None else SyncRecord(**dict(row._mapping))


def latest_sync(session: Session, account_id: str, timetable_id: str) -> SyncRecord | None:
    """The account's most recent run for a timetable."""
    table = table_of(GoogleSyncRow)
    row = session.execute(
        sa.select(table)
        .where(table.c.account_id == account_id, table.c.timetable_id == timetable_id)
        .order_by(table.c.created_at.desc())
        .limit(1)
    ).one_or_none()
    return None if row is None else SyncRecord(**dict(row._mapping))


def update_sync(session: Session, sync_id: str, *, now: dt.datetime, **values: Any) -> None:
    """Change a run's status, progress, counts or failures."""
    table = table_of(GoogleSyncRow)
    session.execute(sa.update(table).where(table.c.id == sync_id).values(updated_at=now, **values))


def stale_sync_ids(session: Session, *, older_than: dt.datetime, limit: int) -> list[str]:
    """Runs still pending or running with no progress since `older_than` (lost message, dead worker)."""
    table = table_of(GoogleSyncRow)
    stmt = (
        sa.select(table.c.id)
        .where(table.c.status.in_(("pending", "running")), table.c.updated_at <= older_than)
        .order_by(table.c.updated_at, table.c.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))
