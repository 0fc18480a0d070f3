"""Feed queries: add, find by token hash, revoke; they never commit."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from schedgen.adapters.db.tables import FeedRow, table_of


@dataclass(frozen=True, slots=True)
class FeedRecord:
    """A stored feed (never its token)."""

    token_hash: str
    timetable_id: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None

    @property
    def live(self) -> bool:
        """Not revoked."""
        return self.revoked_at is None


def _record(row: sa.Row[Any]) -> FeedRecord:
    values = row._mapping
    return FeedRecord(
        values["token_hash"], values["timetable_id"], values["created_at"], values["revoked_at"]
    )


def insert_feed(session: Session, *, token_hash: str, timetable_id: str, now: dt.datetime) -> None:
    """Store a new live feed."""
    session.execute(
        sa.insert(table_of(FeedRow)).values(token_hash=token_hash, timetable_id=timetable_id, created_at=now)
    )


def get_feed(session: Session, token_hash: str) -> FeedRecord | None:
    """The feed with this token hash, live or revoked."""
    table = table_of(FeedRow)
    row = session.execute(sa.select(table).where(table.c.token_hash == token_hash)).one_or_none()
    return None if row is None else _record(row)


def live_feed(session: Session, timetable_id: str) -> FeedRecord | None:
    """The timetable's live feed, if any."""
    table = table_of(FeedRow)
    stmt = (
        sa.select(table)
        .where(table.c.timetable_id == timetable_id, table.c.revoked_at.is_(None))
        .order_by(table.c.created_at.desc())
        .limit(1)
    )
    row = session.execute(stmt).one_or_none()
    return None if row is None else _record(row)


def revoke_feeds(session: Session, timetable_id: str, *, now: dt.datetime) -> int:
    """Revoke every live feed of a timetable; how many were revoked."""
    table = table_of(FeedRow)
    stmt = (
        sa.update(table)
        .where(table.c.timetable_id == timetable_id, table.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return int(cast("sa.CursorResult[Any]", session.execute(stmt)).rowcount)
