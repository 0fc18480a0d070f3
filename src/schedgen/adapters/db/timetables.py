"""Timetable queries: insert, read, update the JSON state, and delete expired rows; they never commit."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from schedgen.adapters.db.tables import timetables_table
from schedgen.domain.choices import SavedTimetable


def _to_saved(row: sa.Row[Any]) -> SavedTimetable:
    values = row._mapping
    return SavedTimetable(
        id=values["id"],
        job_ids=tuple(values["job_ids"] or ()),
        selection=values["selection"] or {},
        options=values["options"] or {},
        created_at=values["created_at"],
        updated_at=values["updated_at"],
        expires_at=values["expires_at"],
        sources=None if values["sources"] is None else tuple(values["sources"]),
    )


def insert_timetable(
    session: Session,
    *,
    timetable_id: str,
    job_ids: Sequence[str],
    now: dt.datetime,
    expires_at: dt.datetime,
    options: Mapping[str, Any] | None = None,
) -> SavedTimetable:
    """Store a new timetable with empty choices and the given (or default) options."""
    table = timetables_table()
    stmt = (
        sa.insert(table)
        .values(
            id=timetable_id,
            job_ids=list(job_ids),
            selection={},
            options=dict(options or {}),
            created_at=now,
            updated_at=now,
            expires_at=expires_at,
        )
        .returning(*table.c)
    )
    return _to_saved(session.execute(stmt).one())


def get_timetable(session: Session, timetable_id: str, *, now: dt.datetime) -> SavedTimetable | None:
    """The timetable with this id unless it has expired, else None."""
    table = timetables_table()
    row = session.execute(
        sa.select(table).where(table.c.id == timetable_id, table.c.expires_at > now)
    ).one_or_none()
    return None if row is None else _to_saved(row)


def _update_live(
    session: Session, timetable_id: str, now: dt.datetime, *conditions: sa.ColumnElement[bool], **values: Any
) -> bool:
    """UPDATE a timetable that has not expired (and meets `conditions`) with `values`; True if one was."""
    table = timetables_table()
    live = (table.c.id == timetable_id, table.c.expires_at > now, *conditions)
    result = cast("sa.CursorResult[Any]", session.execute(sa.update(table).where(*live).values(**values)))
    return int(result.rowcount) == 1


def update_timetable(
    session: Session,
    timetable_id: str,
    *,
    now: dt.datetime,
    expires_at: dt.datetime,
    selection: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
) -> bool:
    """Replace the selection and/or options of a live timetable and extend its life; True if it exists."""
    values: dict[str, Any] = {"updated_at": now, "expires_at": expires_at}
    if selection is not None:
        values["selection"] = dict(selection)
    if options is not None:
        values["options"] = dict(options)
    return _update_live(session, timetable_id, now, **values)


def keep_timetable(
    session: Session,
    timetable_id: str,
    *,
    now: dt.datetime,
    expires_at: dt.datetime,
    sources: Sequence[Mapping[str, Any]],
) -> bool:
    """Keep a live timetable until `expires_at`, with a copy of its files, unless it is already kept as long;
    True if it was. Its ``updated_at`` stays: nothing the student sees has changed."""
    later = timetables_table().c.expires_at < expires_at
    sources_copy = [dict(source) for source in sources]
    return _update_live(session, timetable_id, now, later, expires_at=expires_at, sources=sources_copy)


def cut_timetable_short(
    session: Session, timetable_id: str, *, now: dt.datetime, expires_at: dt.datetime
) -> bool:
    """Let a live timetable expire at `expires_at` if it was kept longer; True if it was."""
    sooner = timetables_table().c.expires_at > expires_at
    return _update_live(session, timetable_id, now, sooner, expires_at=expires_at)


def delete_expired_timetables(session: Session, *, now: dt.datetime, limit: int) -> int:
    """Delete up to `limit` expired timetables; the number deleted."""
    table = timetables_table()
    expired = sa.select(table.c.id).where(table.c.expires_at <= now).limit(limit)
    result = cast("sa.CursorResult[Any]", session.execute(sa.delete(table).where(table.c.id.in_(expired))))
    return int(result.rowcount)
