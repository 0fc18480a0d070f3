"""The public JSON contract of parsed timetables: {"kind": ..., "events": [...]}, both ways."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from schedgen.domain.events import (
    Event,
    ExamSitting,
    Kind,
    LectureSession,
    ParseWarning,
    TestSitting,
    Timetable,
    Weekday,
)


def _hhmm(value: dt.time | None) -> str | None:
    return None if value is None else f"{value.hour:02d}:{value.minute:02d}"  # strftime is 3x slower


def event_to_dict(event: Event) -> dict[str, Any]:
    """Serialise one event in the contract's field names and formats."""
    if isinstance(event, LectureSession):
        return {
            "module": event.module,
            "offered": event.offered,
            "group": event.group,
            "language": event.language,
            "activity": event.activity,
            "activity_type": event.activity_type.value,
            "day": event.day.label,
            "start": _hhmm(event.start),
            "end": _hhmm(event.end),
            "venues": list(event.venues),
            "campus": event.campus,
        }
    if isinstance(event, TestSitting):
        return {
            "module": event.module,
            "activity": event.activity,
            "day": event.day,
            "date": event.date.isoformat(),
            "start": _hhmm(event.start),
            "end": _hhmm(event.end),
            "venues": list(event.venues),
            "campus": event.campus,
        }
    return {
        "module": event.module,
        "activity": event.activity,
        "status": event.status,
        "paper": event.paper,
        "date": event.date.isoformat(),
        "start": _hhmm(event.start),
        "end": _hhmm(event.end),
        "venues": list(event.venues),
        "campus": event.campus,
        "module_campus": event.module_campus,
        "comments": event.comments,
    }


def timetable_to_dict(timetable: Timetable) -> dict[str, Any]:
    """Serialise a timetable as the contract object (warnings ride along as an extra field)."""
    out: dict[str, Any] = {
        "kind": timetable.kind.value,
        "events": [event_to_dict(e) for e in timetable.events],
    }
    if timetable.warnings:
        out["warnings"] = [{"page": w.page, "message": w.message, "text": w.text} for w in timetable.warnings]
    return out


def _time(value: object) -> dt.time:
    return dt.time.fromisoformat(str(value))


def event_from_dict(kind: Kind, data: Mapping[str, Any]) -> Event:
    """Rebuild one event from its contract form (inverse of event_to_dict)."""
    venues = tuple(str(v) for v in data.get("venues", ()))
    if kind is Kind.LECTURES:
        return LectureSession(
            module=data["module"],
            offered=data["offered"],
            group=data["group"],
            language=data.get("language", ""),
            activity=data["activity"],
            day=Weekday.from_label(data["day"]),
            start=_time(data["start"]),
            end=_time(data["end"]),
            venues=venues,
            campus=data.get("campus", ""),
        )
    if kind is Kind.TESTS:
        return TestSitting(
            module=data["module"],
            activity=data["activity"],
            day=data.get("day", ""),
            date=dt.date.fromisoformat(data["date"]),
            start=_time(data["start"]),
            end=_time(data["end"]),
            venues=venues,
            campus=data.get("campus", ""),
        )
    end = data.get("end")
    return ExamSitting(
        module=data["module"],
        activity=data.get("activity", ""),
        status=data.get("status", ""),
        paper=data.get("paper", ""),
        date=dt.date.fromisoformat(data["date"]),
        start=_time(data["start"]),
        end=None if end is None else _time(end),
        venues=venues,
        campus=data.get("campus", ""),
        module_campus=data.get("module_campus", ""),
        comments=data.get("comments"),
    )


def timetable_from_dict(data: Mapping[str, Any]) -> Timetable:
    """Rebuild a timetable from its contract form."""
    kind = Kind(data["kind"])
    events: Sequence[Mapping[str, Any]] = data.get("events", ())
    warnings = tuple(
        ParseWarning(page=int(w["page"]), message=str(w["message"]), text=str(w.get("text", "")))
        for w in data.get("warnings", ())
    )
    return Timetable(kind=kind, events=tuple(event_from_dict(kind, e) for e in events), warnings=warnings)
