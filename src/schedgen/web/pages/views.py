"""View models of the timetable pages: what the templates show, computed from a timetable and its choices."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from schedgen.domain.choices import (
    ALL_PERIODS,
    PERIOD_LABELS,
    PERIODS,
    chosen_events,
    dated_in,
    event_key,
    group_choices,
    in_view,
    meets_in,
    modules_of,
    period_of,
    periods_with_classes,
    sort_key,
    undecided,
)
from schedgen.domain.events import ActivityType, Event, ExamSitting, LectureSession, TestSitting
from schedgen.domain.preferences import Preferences
from schedgen.domain.selection import module_key
from schedgen.domain.terms import TermCalendar, offering_range, public_holidays, teaching_periods
from schedgen.errors import UnknownOfferingError
from schedgen.rendering.week import dated_clashes, distinct_colours, event_label, month_views, week_grid
from schedgen.services.timetable_state import TimetableView

TYPE_FILTERS = ("lecture", "practical", "tutorial", "test", "exam")  # the activity-type filter's values
WEEKLY_TYPES = {t.value for t in ActivityType}


@dataclass(frozen=True, slots=True)
class Filters:
    """View-only filters from the query string: they narrow what is shown, not what is exported."""

    module: str = ""  # module key, or "" for every module
    kind: str = ""  # one of TYPE_FILTERS, or "" for everything

    @classmethod
    def of(cls, values: Mapping[str, str], modules: Sequence[str]) -> Filters:
        """Parse filter values, dropping any that do not apply to this timetable."""
        module = module_key(values.get("module", ""))
        kind = values.get("type", "")
        return cls(
            module=module if module in {module_key(m) for m in modules} else "",
            kind=kind if kind in TYPE_FILTERS else "",
        )

    def query(self) -> str:
        """The query string that reproduces these filters ("" when none)."""
        parts = [f"module={self.module}" if self.module else "", f"type={self.kind}" if self.kind else ""]
        joined = "&".join(p for p in parts if p)
        return f"?{joined}" if joined else ""

    def shows(self, event: Event) -> bool:
        """True if the event passes the module and activity-type filters."""
        if self.module and module_key(event.module) != self.module:
            return False
        if not self.kind:
            return True
        if isinstance(event, LectureSession):
            return event.activity_type.value == self.kind
        return self.kind == ("test" if isinstance(event, TestSitting) else "exam")


@dataclass(frozen=True, slots=True)
class Row:
    """One event in a list: whether it is ticked, what it clashes with, its colour."""

    event: Event
    key: str
    label: str
    checked: bool
    clashes: tuple[str, ...]
    option: bool
    colour_id: str
    off: bool  # its module is left out of the calendar


def colour_of(events: Sequence[Event], preferences: Preferences) -> Callable[[str], str]:
    """module -> Google colour id: the student's choice, else distinct defaults (as the .ics has them)."""
    colours = distinct_colours((e.module for e in events), preferences.colours)
    return lambda module: colours.get(module_key(module), "8")


def _lectures(events: Sequence[Event]) -> list[LectureSession]:
    return [e for e in events if isinstance(e, LectureSession)]


def week_context(
    view: TimetableView, terms: TermCalendar, today: dt.date, filters: Filters
) -> dict[str, Any]:
    """Everything the week page shows: period, filters, group choices, grid, lists, months, clashes."""
    choices, events = view.choices, view.events
    lectures = _lectures(events)
    period = period_of(choices, lectures, terms, today)
    colour = colour_of(view.events, view.preferences)
    open_choices = undecided(lectures, choices, period)
    option_keys = {event_key(s) for c in open_choices for o in c.options for s in o.sessions}
    chosen = set(chosen_events(events, choices, terms, today))
    shown = sorted(
        (e for e in events if in_view(e, choices, period, terms) and filters.shows(e)), key=sort_key
    )
    weekly = [e for e in shown if isinstance(e, LectureSession)]
    dated = [e for e in shown if isinstance(e, TestSitting | ExamSitting)]
    grid = week_grid([s for s in weekly if s in chosen], colour, option_keys)
    clash_labels = {b.key: tuple(event_label(c) for c in b.clashes) for d in grid.days for b in d.blocks}
    chosen_dated = [e for e in dated if e in chosen]
    dated_clash = dated_clashes(chosen_dated, dt.timedelta(hours=view.preferences.exam_hours))
    in_period = [s for s in lectures if meets_in(s.offered, period)]
    available = periods_with_classes(lectures)

    def row(event: Event, clashes: tuple[str, ...]) -> Row:
        key = event_key(event)
        return Row(
            event,
            key,
            event_label(event),
            event in chosen,
            clashes,
            key in option_keys,
            colour(event.module),
            module_key(event.module) in choices.excluded_modules,
        )

    return {
        "period": period,
        "periods": [
            (p, PERIOD_LABELS[p]) for p in PERIODS if p in available or p in ("S1", "S2", ALL_PERIODS)
        ],
        "filters": filters,
        "modules": [(module_key(m), m, colour(m)) for m in modules_of(events)],
        "excluded": choices.excluded_modules,
        "choices": [
            c
            for c in group_choices(in_period, choices)
            if (not filters.module or module_key(c.module) == filters.module)
            and (not filters.kind or filters.kind == c.activity_type.value)
        ],
        "open_choices": open_choices,
        "grid": grid,
        "weekly_rows": [row(s, clash_labels.get(event_key(s), ())) for s in weekly],
        "dated_rows": [
            row(e, tuple(event_label(c) for c in dated_clash.get(event_key(e), ()))) for e in dated
        ],
        "months": month_views(chosen_dated),
        "shown_keys": [event_key(e) for e in shown],
        "counts": _counts(chosen),
        "has_lectures": bool(lectures),
        "has_dated": any(isinstance(e, TestSitting | ExamSitting) for e in events),
        "type_filters": TYPE_FILTERS,
        "colour_for": colour,
    }


def _counts(events: set[Event]) -> dict[str, int]:
    return {
        "weekly": sum(isinstance(e, LectureSession) for e in events),
        "tests": sum(isinstance(e, TestSitting) for e in events),
        "exams": sum(isinstance(e, ExamSitting) for e in events),
    }


@dataclass(frozen=True, slots=True)
class OfferingDates:
    """One offering's date range on the customise page: the term data's default and the student's own."""

    offering: str
    default: tuple[dt.date, dt.date] | None  # None: the term data has no dates (quarters)
    chosen: tuple[dt.date, dt.date] | None

    @property
    def value(self) -> tuple[dt.date, dt.date] | None:
        """The range in force."""
        return self.chosen or self.default


def offering_dates(
    lectures: Sequence[LectureSession], terms: TermCalendar, prefs: Preferences
) -> list[OfferingDates]:
    """The date ranges of the offerings these classes use (Y uses S1 and S2)."""
    offerings: list[str] = []
    for session in lectures:
        code = session.offered.strip().upper()
        for part in ("S1", "S2") if code == "Y" else (code,):
            if part not in offerings:
                offerings.append(part)
    out = []
    for code in sorted(offerings):
        try:
            default: tuple[dt.date, dt.date] | None = offering_range(terms, code)
        except UnknownOfferingError:
            default = None
        out.append(OfferingDates(code, default, prefs.dates.get(code)))
    return out


def holidays_in(ranges: Sequence[tuple[dt.date, dt.date]]) -> list[tuple[dt.date, str]]:
    """SA public holidays on weekdays within any of the ranges, in date order."""
    if not ranges:
        return []
    years = range(min(a.year for a, _ in ranges), max(b.year for _, b in ranges) + 1)
    found = public_holidays(years)
    return sorted(
        (day, name)
        for day, name in found.items()
        if day.weekday() < 6 and any(a <= day <= b for a, b in ranges)
    )


def customise_context(view: TimetableView, terms: TermCalendar, today: dt.date) -> dict[str, Any]:
    """Everything the customise page shows."""
    prefs = view.preferences
    chosen = chosen_events(view.events, view.choices, terms, today)
    lectures = _lectures(chosen)
    dates = offering_dates(lectures, terms, prefs)
    ranges = [d.value for d in dates if d.value is not None]
    colour = colour_of(view.events, prefs)
    return {
        "prefs": prefs,
        "modules": [(module_key(m), m, colour(m)) for m in modules_of(chosen)],
        "dates": dates,
        "holidays": holidays_in(ranges),
        "recess": terms.recess,
        "terms": terms,
        "has_exams": any(isinstance(e, ExamSitting) for e in chosen),
    }


def missing_offerings(
    lectures: Sequence[LectureSession], terms: TermCalendar, prefs: Preferences
) -> list[str]:
    """Offerings of these classes with no dates from the term data or the student."""
    missing = []
    for code in sorted({s.offered.strip().upper() for s in lectures}):
        try:
            teaching_periods(terms, code, prefs.dates)
        except UnknownOfferingError:
            missing.append(code)
    return missing


def missing_dates(view: TimetableView, terms: TermCalendar, today: dt.date) -> list[str]:
    """Offerings of the chosen classes that have no dates yet: the calendar cannot be made until given."""
    return missing_offerings(
        _lectures(chosen_events(view.events, view.choices, terms, today)), terms, view.preferences
    )


def get_context(view: TimetableView, terms: TermCalendar, today: dt.date) -> dict[str, Any]:
    """Everything the download page shows: exactly the events the file will hold."""
    choices = view.choices
    events = view.events
    chosen = sorted(chosen_events(events, choices, terms, today), key=sort_key)
    lectures = _lectures(events)
    period = period_of(choices, lectures, terms, today)
    colour = colour_of(view.events, view.preferences)
    return {
        "prefs": view.preferences,
        "period_label": PERIOD_LABELS[period],
        "rows": [(e, event_label(e), colour(e.module)) for e in chosen],
        "counts": _counts(set(chosen)),
        "open_choices": undecided(lectures, choices, period),
        "missing": missing_offerings(_lectures(chosen), terms, view.preferences),
        "dated_in": dated_in,
    }
