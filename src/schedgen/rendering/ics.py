"""Domain events -> one RFC 5545 iCalendar file: weekly lectures, tests and exams, byte-stable per input."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from schedgen.domain.events import Event, ExamSitting, LectureSession, TestSitting
from schedgen.domain.selection import group_key, module_key
from schedgen.domain.terms import (
    DateRange,
    TermCalendar,
    class_dates,
    excluded_dates,
    normalise_offering,
    public_holidays,
    teaching_periods,
)
from schedgen.errors import UnknownOfferingError
from schedgen.rendering.colours import module_colour, parse_colour

if TYPE_CHECKING:  # icalendar itself is loaded on first use (about 2 MiB most processes never need)
    from icalendar import Calendar
    from icalendar import Event as VEvent

TIMEZONE = "Africa/Johannesburg"  # every UP campus is in South Africa (SAST, UTC+2, no DST)
PRODID = "-//schedgen//UP Schedule Generator//EN"
UID_DOMAIN = "schedgen"  # right-hand side of every event UID
# Default DTSTAMP: fixed, so the same input always gives byte-identical output.
DEFAULT_GENERATED_AT = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
_VTIMEZONE_SPAN = (dt.date(1970, 1, 1), dt.date(2100, 1, 1))  # the span the VTIMEZONE claims to cover
_CALENDAR_NAMESPACE = uuid.UUID("0b5c6f0e-8d1c-5a8e-9a57-3c2f1f6d2b10")  # uuid5 namespace for calendar UIDs


@dataclass(frozen=True, slots=True)
class CalendarOptions:
    """How to turn events into a calendar; every field has a sensible default."""

    calendar_name: str = "UP timetable"
    year: int | None = None  # the term data year lectures use; checked against the terms given
    semester_overrides: Mapping[str, tuple[dt.date, dt.date]] = field(default_factory=dict)  # "S1" -> dates
    skip_holidays: bool = True  # leave SA public holidays out of weekly lectures
    recess: tuple[DateRange, ...] = ()  # extra no-lecture periods on top of the term data's
    exam_duration: dt.timedelta = dt.timedelta(hours=3)  # UP prints exam start times only
    exam_duration_overrides: Mapping[str, dt.timedelta] = field(default_factory=dict)  # module -> length
    reminder_minutes: int | None = None  # a display alarm this many minutes before each event
    colours: Mapping[str, str] = field(default_factory=dict)  # module -> Google colorId ("11") or name
    calendar_colour: str | None = None  # Google colorId or name for the whole calendar (Apple, RFC 7986)
    generated_at: dt.datetime = DEFAULT_GENERATED_AT  # DTSTAMP of every event; must be timezone-aware

    def __post_init__(self) -> None:
        durations = [self.exam_duration, *self.exam_duration_overrides.values()]
        if any(d <= dt.timedelta(0) for d in durations):
            raise ValueError("exam durations must be positive")
        if self.reminder_minutes is not None and self.reminder_minutes < 0:
            raise ValueError("reminder_minutes cannot be negative")
        if self.generated_at.utcoffset() is None:
            raise ValueError("generated_at must be timezone-aware")
        for value in (*self.colours.values(), *([self.calendar_colour] if self.calendar_colour else [])):
            parse_colour(value)


@dataclass(frozen=True, slots=True)
class _Entry:
    """One VEVENT before its UID is fixed: when it starts, who it is, and how to build it."""

    start: dt.datetime
    identity: tuple[str, ...]
    summary: str
    event: Event
    dates: tuple[dt.date, ...] = ()  # lectures: the days the class meets
    skipped: tuple[dt.date, ...] = ()  # lectures: excluded days between the first and last meeting
    until: dt.datetime | None = None  # lectures: RRULE UNTIL in UTC


def _squash(text: str) -> str:
    return "".join(text.split()).upper()


def event_identity(event: Event) -> tuple[str, ...]:
    """What makes an event the same event across renders (venues and, for tests and exams, dates excluded)."""
    if isinstance(event, LectureSession):
        return (
            "lecture",
            module_key(event.module),
            normalise_offering(event.offered),
            group_key(event.group),
            _squash(event.language),
            _squash(event.activity),
            event.day.name,
            event.start.strftime("%H:%M"),
        )
    if isinstance(event, TestSitting):
        return ("test", module_key(event.module), _squash(event.activity))
    return ("exam", module_key(event.module), _squash(event.activity), _squash(event.paper))


def event_uid(identity: Sequence[str], occurrence: int = 1) -> str:
    """A UID from an identity; `occurrence` tells apart events that share one (2 for the second, ...)."""
    parts = [*identity, f"#{occurrence}"] if occurrence > 1 else list(identity)
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return f"{digest[:32]}@{UID_DOMAIN}"


def calendar_uid(calendar_name: str) -> str:
    """The calendar's own UID (RFC 7986), derived from its name."""
    return str(uuid.uuid5(_CALENDAR_NAMESPACE, calendar_name.strip()))


def unresolved_offerings(
    events: Sequence[Event], terms: TermCalendar | None, options: CalendarOptions
) -> tuple[str, ...]:
    """Offering codes of lectures that have no dates (render_calendar raises UnknownOfferingError)."""
    missing: set[str] = set()
    for event in events:
        if isinstance(event, LectureSession):
            try:
                teaching_periods(terms, event.offered, options.semester_overrides)
            except UnknownOfferingError:
                missing.add(event.offered)
    return tuple(sorted(missing))


def _exam_end(exam: ExamSitting, start: dt.datetime, options: CalendarOptions) -> tuple[dt.datetime, bool]:
    """The exam's end and whether it was assumed rather than printed."""
    for module, length in options.exam_duration_overrides.items():
        if module_key(module) == module_key(exam.module):
            return start + length, True
    if exam.end is not None:
        end = dt.datetime.combine(exam.date, exam.end, tzinfo=start.tzinfo)
        if end > start:
            return end, False
    return start + options.exam_duration, True


def _summary(event: Event) -> str:
    if isinstance(event, LectureSession | TestSitting):
        return f"{event.module} {event.activity}"
    paper = event.paper.strip()
    return f"{event.module} Exam" + ("" if paper in ("", "1") else f" (paper {paper})")


def _plan_lecture(
    session: LectureSession, terms: TermCalendar | None, options: CalendarOptions, zone: ZoneInfo
) -> _Entry | None:
    periods = teaching_periods(terms, session.offered, options.semester_overrides)
    first_day = min(p.start for p in periods)
    last_day = max(p.end for p in periods)
    holidays = public_holidays(range(first_day.year, last_day.year + 1)) if options.skip_holidays else {}
    recess = (*(terms.recess if terms else ()), *options.recess)
    dates = class_dates(periods, session.day, holiday_dates=holidays, recess=recess)
    if not dates:
        return None
    skipped = tuple(
        d for d in excluded_dates(periods, session.day, holiday_dates=holidays, recess=recess) if d > dates[0]
    )
    until = dt.datetime.combine(last_day, dt.time(23, 59, 59), tzinfo=zone).astimezone(dt.UTC)
    return _Entry(
        start=dt.datetime.combine(dates[0], session.start, tzinfo=zone),
        identity=event_identity(session),
        summary=_summary(session),
        event=session,
        dates=dates,
        skipped=skipped,
        until=until,
    )


def _plan(
    events: Sequence[Event], terms: TermCalendar | None, options: CalendarOptions, zone: ZoneInfo
) -> list[_Entry]:
    """Resolve dates for every event, sorted by start, module and summary."""
    missing = unresolved_offerings(events, terms, options)
    if missing:
        raise UnknownOfferingError(
            f"We have no dates for classes offered in {', '.join(missing)}. Give their dates yourself."
        )
    entries: list[_Entry] = []
    for event in dict.fromkeys(events):  # exact duplicates become one event
        if isinstance(event, LectureSession):
            entry = _plan_lecture(event, terms, options, zone)
            if entry is not None:
                entries.append(entry)
        else:
            start = dt.datetime.combine(event.date, event.start, tzinfo=zone)
            entries.append(_Entry(start, event_identity(event), _summary(event), event))
    # repr() breaks the last ties, so the input order never changes the output (or the UID suffixes)
    entries.sort(key=lambda e: (e.start, module_key(e.event.module), e.summary, e.identity, repr(e.event)))
    return entries


def _join(*parts: str) -> str:
    return ", ".join(p.strip() for p in parts if p.strip())


def _description(entry: _Entry, end_assumed: bool) -> str:
    event = entry.event
    lines: list[str] = []
    if isinstance(event, LectureSession):
        first, last = entry.dates[0], entry.dates[-1]
        lines += [
            f"Group: {event.group}",
            f"Activity: {event.activity} ({event.activity_type.value})",
            f"Offered: {event.offered} (classes {first.isoformat()} to {last.isoformat()})",
            f"Language: {event.language}",
        ]
    elif isinstance(event, TestSitting):
        lines.append(f"Activity: {event.activity}")
    else:
        raw = event.status.strip().upper()
        status = "FINAL" if raw == "FINAL" else "provisional"
        if raw not in ("FINAL", "PROVISIONAL", ""):
            status += f" ({event.status.strip()})"
        lines += [f"Activity: {event.activity}", f"Status: {status}", f"Paper: {event.paper}"]
        if end_assumed:
            lines.append("End time assumed: UP prints exam start times only.")
        if event.comments:
            lines.append(f"Comments: {event.comments}")
    lines.append(f"Venues: {', '.join(event.venues) or 'not given'}")
    if event.campus:
        lines.append(f"Campus: {event.campus}")
    return "\n".join(lines)


def _end(entry: _Entry, options: CalendarOptions) -> tuple[dt.datetime | None, bool]:
    event = entry.event
    if isinstance(event, ExamSitting):
        return _exam_end(event, entry.start, options)
    end = dt.datetime.combine(entry.start.date(), event.end, tzinfo=entry.start.tzinfo)
    return (end if end > entry.start else None), False


def _kind_label(event: Event) -> str:
    if isinstance(event, LectureSession):
        return event.activity_type.value.capitalize()
    return "Test" if isinstance(event, TestSitting) else "Exam"


def _status(event: Event) -> str | None:
    if isinstance(event, ExamSitting):
        return "CONFIRMED" if event.status.strip().upper() == "FINAL" else "TENTATIVE"
    return None


def _vevent(entry: _Entry, uid: str, options: CalendarOptions) -> VEvent:
    from icalendar import Alarm
    from icalendar import Event as VEvent

    event = entry.event
    end, end_assumed = _end(entry, options)
    colour = module_colour(event.module, options.colours)
    vevent = VEvent.new(
        uid=uid,
        stamp=options.generated_at.astimezone(dt.UTC),
        start=entry.start,
        end=end,
        summary=entry.summary,
        description=_description(entry, end_assumed),
        location=_join(*event.venues, event.campus) or None,
        categories=[event.module, _kind_label(event)],
        color=colour.css_name,
    )
    vevent.add("X-SCHEDGEN-GOOGLE-COLOR-ID", colour.color_id)
    status = _status(event)
    if status is not None:
        vevent.add("STATUS", status)
    if entry.until is not None:
        vevent.add("RRULE", {"FREQ": "WEEKLY", "UNTIL": entry.until})
        if entry.skipped:
            at = entry.start.timetz()
            vevent.add("EXDATE", [dt.datetime.combine(d, at) for d in entry.skipped])
    if options.reminder_minutes is not None:
        alarm = Alarm()
        alarm.add("ACTION", "DISPLAY")
        alarm.add("DESCRIPTION", entry.summary)
        alarm.add("TRIGGER", dt.timedelta(minutes=-options.reminder_minutes))
        vevent.add_component(alarm)
    return vevent


def _calendar(options: CalendarOptions) -> Calendar:
    from icalendar import Calendar, Timezone

    calendar = Calendar.new(
        prodid=PRODID,
        version="2.0",
        name=options.calendar_name,
        calscale="GREGORIAN",
        method="PUBLISH",
        uid=calendar_uid(options.calendar_name),
    )
    calendar.add("X-WR-TIMEZONE", TIMEZONE)
    calendar.add("X-WR-RELCALID", calendar_uid(options.calendar_name))
    if options.calendar_colour:
        colour = parse_colour(options.calendar_colour)
        calendar.color = colour.css_name
        calendar.add("X-APPLE-CALENDAR-COLOR", colour.hex)
    first, last = _VTIMEZONE_SPAN
    calendar.add_component(Timezone.from_tzid(TIMEZONE, first_date=first, last_date=last))
    return calendar


def render_calendar(
    events: Sequence[Event], terms: TermCalendar | None, options: CalendarOptions | None = None
) -> bytes:
    """The events as iCalendar bytes; raises UnknownOfferingError if a lecture's offering has no dates."""
    options = options or CalendarOptions()
    if options.year is not None and terms is not None and terms.year != options.year:
        raise ValueError(f"term data is for {terms.year}, but the options ask for {options.year}")
    zone = ZoneInfo(TIMEZONE)
    calendar = _calendar(options)
    seen: Counter[tuple[str, ...]] = Counter()
    for entry in _plan(events, terms, options, zone):
        seen[entry.identity] += 1
        calendar.add_component(_vevent(entry, event_uid(entry.identity, seen[entry.identity]), options))
    ical: bytes = calendar.to_ical()
    return ical
