"""What a student set on the customise step: colours, dates per offering, holidays, exam length, reminder, name."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from schedgen.domain.selection import module_key
from schedgen.domain.terms import normalise_offering

DEFAULT_NAME = "UP timetable"
MAX_NAME = 80  # characters of a calendar name
MAX_REMINDER_MINUTES = 7 * 24 * 60  # a week
EXAM_HOURS = (1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0)  # what the exam-length control offers
REMINDER_MINUTES = (0, 5, 10, 15, 30, 60, 120, 1440)  # what the reminder control offers (plus "none")
COLOUR_IDS = tuple(str(n) for n in range(1, 12))  # Google's event colour ids


@dataclass(frozen=True, slots=True)
class Preferences:
    """Calendar options chosen by the student; every field has a default."""

    name: str = DEFAULT_NAME
    colours: Mapping[str, str] = field(default_factory=dict)  # module key -> Google colour id ("1".."11")
    dates: Mapping[str, tuple[dt.date, dt.date]] = field(default_factory=dict)  # offering -> first, last day
    skip_holidays: bool = True
    skip_recess: bool = True
    exam_hours: float = 3.0
    reminder_minutes: int | None = None
    term_year: int | None = None  # the UP year whose term dates the timetable uses, fixed when it is made

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "name": self.name,
            "colours": dict(sorted(self.colours.items())),
            "dates": {k: [a.isoformat(), b.isoformat()] for k, (a, b) in sorted(self.dates.items())},
            "skip_holidays": self.skip_holidays,
            "skip_recess": self.skip_recess,
            "exam_hours": self.exam_hours,
            "reminder_minutes": self.reminder_minutes,
            "term_year": self.term_year,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Preferences:
        """Rebuild from to_dict's form; malformed parts fall back to their defaults."""
        data = data or {}
        return cls(
            name=clean_name(data.get("name")),
            colours=_colours(data.get("colours")),
            dates=_dates(data.get("dates")),
            skip_holidays=bool(data.get("skip_holidays", True)),
            skip_recess=bool(data.get("skip_recess", True)),
            exam_hours=clean_exam_hours(data.get("exam_hours")),
            reminder_minutes=clean_reminder(data.get("reminder_minutes")),
            term_year=clean_year(data.get("term_year")),
        )


def clean_year(value: object) -> int | None:
    """A plausible term year, else None."""
    if isinstance(value, int) and not isinstance(value, bool) and 2000 <= value <= 2100:
        return value
    return None


def clean_name(value: object) -> str:
    """A usable calendar name: printable, trimmed, at most MAX_NAME characters, never empty."""
    text = " ".join("".join(c for c in str(value or "") if c.isprintable()).split())[:MAX_NAME]
    return text or DEFAULT_NAME


def clean_exam_hours(value: object) -> float:
    """Exam length in hours, from 0.5 to 8 (default 3)."""
    try:
        hours = float(str(value))
    except ValueError:
        return 3.0
    return hours if 0.5 <= hours <= 8 else 3.0


def clean_reminder(value: object) -> int | None:
    """Reminder minutes from 0 to a week, or None for no reminder."""
    if value is None or str(value).strip() in ("", "none"):
        return None
    try:
        minutes = int(str(value))
    except ValueError:
        return None
    return minutes if 0 <= minutes <= MAX_REMINDER_MINUTES else None


def _colours(value: object) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {module_key(str(k)): str(v) for k, v in value.items() if str(v) in COLOUR_IDS}


def parse_date_range(start: object, end: object) -> tuple[dt.date, dt.date] | None:
    """Two ISO dates as a range, or None if either is missing, malformed, or the range runs backwards."""
    try:
        first, last = dt.date.fromisoformat(str(start)), dt.date.fromisoformat(str(end))
    except ValueError:
        return None
    return (first, last) if first <= last else None


def _dates(value: object) -> dict[str, tuple[dt.date, dt.date]]:
    if not isinstance(value, Mapping):
        return {}
    out: dict[str, tuple[dt.date, dt.date]] = {}
    for key, pair in value.items():
        if isinstance(pair, list | tuple) and len(pair) == 2:
            parsed = parse_date_range(pair[0], pair[1])
            if parsed is not None:
                out[normalise_offering(str(key))] = parsed
    return out
