"""What a student chose on the web: one group per module and activity type, sessions left out, the period."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from schedgen.domain.events import ActivityType, Event, ExamSitting, LectureSession, TestSitting
from schedgen.domain.selection import group_key, module_key
from schedgen.domain.terms import QUARTER_SEMESTER, TermCalendar, normalise_offering

ALL_PERIODS = "ALL"  # the period value that shows the whole year
PERIODS = ("S1", "S2", "Q1", "Q2", "Q3", "Q4", ALL_PERIODS)  # what the period filter offers, in order
PERIOD_LABELS = {
    "S1": "Semester 1",
    "S2": "Semester 2",
    "Q1": "Quarter 1",
    "Q2": "Quarter 2",
    "Q3": "Quarter 3",
    "Q4": "Quarter 4",
    ALL_PERIODS: "Whole year",
}
# Offerings whose classes meet in each period (a year module meets in both semesters).
_MEETS_IN = {
    "S1": {"S1", "Y", "Q1", "Q2"},
    "S2": {"S2", "Y", "Q3", "Q4"},
    "Q1": {"Q1", "S1", "Y"},
    "Q2": {"Q2", "S1", "Y"},
    "Q3": {"Q3", "S2", "Y"},
    "Q4": {"Q4", "S2", "Y"},
}
KEY_LENGTH = 12  # hex characters of an event key: unique enough within one timetable


def event_key(event: Event) -> str:
    """A short stable id for one event, used in forms and in stored choices."""
    if isinstance(event, LectureSession):
        parts: tuple[str, ...] = (
            "L",
            module_key(event.module),
            normalise_offering(event.offered),
            group_key(event.group),
            event.activity.strip().upper(),
            event.day.name,
            event.start.isoformat("minutes"),
            event.end.isoformat("minutes"),
        )
    elif isinstance(event, TestSitting):
        parts = (
            "T",
            module_key(event.module),
            event.activity,
            event.date.isoformat(),
            event.start.isoformat(),
        )
    else:
        parts = ("E", module_key(event.module), event.activity, event.paper, event.date.isoformat())
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:KEY_LENGTH]


def choice_key(module: str, activity_type: ActivityType | str) -> str:
    """The form and storage key of one (module, activity type) choice: "COS214:practical"."""
    return f"{module_key(module)}:{ActivityType(activity_type).value}"


@dataclass(frozen=True, slots=True)
class Choices:
    """The student's choices: groups by choice_key, events left out, modules left out, and the period."""

    groups: Mapping[str, str] = field(default_factory=dict)  # choice_key -> group key ("P02")
    deselected: frozenset[str] = frozenset()  # event keys
    excluded_modules: frozenset[str] = frozenset()  # module keys
    period: str | None = None  # one of PERIODS; None: the default for today

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (sorted, so equal choices store equal JSON)."""
        return {
            "groups": dict(sorted(self.groups.items())),
            "deselected": sorted(self.deselected),
            "excluded_modules": sorted(self.excluded_modules),
            "period": self.period,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Choices:
        """Rebuild from to_dict's form; unknown or malformed parts are dropped, never trusted."""
        data = data or {}
        groups = data.get("groups") or {}
        period = data.get("period")
        return cls(
            groups={str(k): group_key(str(v)) for k, v in groups.items() if str(v).strip()}
            if isinstance(groups, Mapping)
            else {},
            deselected=frozenset(str(k) for k in data.get("deselected") or () if isinstance(k, str)),
            excluded_modules=frozenset(module_key(str(m)) for m in data.get("excluded_modules") or ()),
            period=period if period in PERIODS else None,
        )


@dataclass(frozen=True, slots=True)
class GroupOption:
    """One group a student can pick for a module's activity type, with its sessions."""

    group: str
    sessions: tuple[LectureSession, ...]


@dataclass(frozen=True, slots=True)
class GroupChoice:
    """A module's activity type that is offered in several groups: pick one."""

    module: str
    activity_type: ActivityType
    options: tuple[GroupOption, ...]
    chosen: str | None  # the chosen group key, or None while undecided

    @property
    def key(self) -> str:
        """The choice_key of this choice."""
        return choice_key(self.module, self.activity_type)


def group_choices(lectures: Sequence[LectureSession], choices: Choices) -> tuple[GroupChoice, ...]:
    """Every (module, activity type) with more than one group, in module and type order."""
    by_type: dict[tuple[str, ActivityType], dict[str, list[LectureSession]]] = defaultdict(dict)
    names: dict[str, str] = {}
    for session in lectures:
        names.setdefault(module_key(session.module), session.module)
        groups = by_type[(module_key(session.module), session.activity_type)]
        groups.setdefault(group_key(session.group), []).append(session)
    out: list[GroupChoice] = []
    for (module, activity_type), groups in sorted(by_type.items()):
        if len(groups) < 2:
            continue
        chosen = choices.groups.get(choice_key(module, activity_type))
        out.append(
            GroupChoice(
                module=names[module],
                activity_type=activity_type,
                options=tuple(GroupOption(g, tuple(s)) for g, s in sorted(groups.items())),
                chosen=chosen if chosen in groups else None,
            )
        )
    return tuple(out)


def meets_in(offered: str, period: str) -> bool:
    """True if a class offered in `offered` meets during `period` (S1, S2, Q1..Q4 or ALL)."""
    if period == ALL_PERIODS:
        return True
    return normalise_offering(offered) in _MEETS_IN.get(period, set())


def dated_in(day: dt.date, period: str, terms: TermCalendar) -> bool:
    """True if a test or exam on `day` belongs to `period`: the half of the year before or from S2's start."""
    if period == ALL_PERIODS:
        return True
    semester = QUARTER_SEMESTER.get(period, period)
    second_half = (day.month, day.day) >= terms.second_half_from
    return second_half == (semester == "S2")


def periods_with_classes(lectures: Iterable[LectureSession]) -> tuple[str, ...]:
    """The periods (in PERIODS order) in which at least one of these classes meets."""
    offered = {normalise_offering(s.offered) for s in lectures}
    return tuple(p for p in PERIODS if p != ALL_PERIODS and any(meets_in(o, p) for o in offered))


def current_or_next_period(terms: TermCalendar, today: dt.date) -> str:
    """The semester that is current or next on `today` by the term data (S1 before or during S1, else S2)."""
    if today.year > terms.year:
        return "S2"
    if today.year < terms.year:
        return "S1"
    if terms.s1 is not None:
        return "S1" if today <= terms.s1.end else "S2"
    return "S1" if (today.month, today.day) < terms.second_half_from else "S2"


def default_period(lectures: Sequence[LectureSession], terms: TermCalendar, today: dt.date) -> str:
    """The period shown first: the current or next semester if it has classes, else the first that does."""
    wanted = current_or_next_period(terms, today)
    available = periods_with_classes(lectures)
    if not available or wanted in available:
        return wanted
    semesters = [p for p in available if p in ("S1", "S2")]
    return semesters[0] if semesters else available[0]


def period_of(
    choices: Choices, lectures: Sequence[LectureSession], terms: TermCalendar, today: dt.date
) -> str:
    """The period in force: the student's, or the default."""
    return choices.period or default_period(lectures, terms, today)


def _wanted_lecture(session: LectureSession, choices: Choices) -> bool:
    chosen = choices.groups.get(choice_key(session.module, session.activity_type))
    return chosen is None or group_key(session.group) == chosen


def in_view(event: Event, choices: Choices, period: str, terms: TermCalendar) -> bool:
    """True if an event belongs to the chosen period and its group is chosen (or not yet decided)."""
    if isinstance(event, LectureSession):
        return meets_in(event.offered, period) and _wanted_lecture(event, choices)
    return dated_in(event.date, period, terms)


def chosen_events(
    events: Sequence[Event], choices: Choices, terms: TermCalendar, today: dt.date
) -> tuple[Event, ...]:
    """Exactly the events that go into the calendar: in the period, chosen group, module kept, not left out."""
    lectures = [e for e in events if isinstance(e, LectureSession)]
    period = period_of(choices, lectures, terms, today)
    return tuple(
        e
        for e in dict.fromkeys(events)
        if in_view(e, choices, period, terms)
        and module_key(e.module) not in choices.excluded_modules
        and event_key(e) not in choices.deselected
    )


def undecided(lectures: Sequence[LectureSession], choices: Choices, period: str) -> tuple[GroupChoice, ...]:
    """Group choices still open among the classes of the period (shown as a reminder before export)."""
    in_period = [s for s in lectures if meets_in(s.offered, period)]
    return tuple(
        c
        for c in group_choices(in_period, choices)
        if c.chosen is None and module_key(c.module) not in choices.excluded_modules
    )


def sort_key(event: Event) -> tuple[Any, ...]:
    """Chronological order for dated events; weekday and time for weekly ones."""
    if isinstance(event, LectureSession):
        return (0, dt.date.min, int(event.day), event.start, module_key(event.module), event.activity)
    kind = 1 if isinstance(event, TestSitting) else 2
    return (kind, event.date, 0, event.start, module_key(event.module), event.activity)


def modules_of(events: Iterable[Event]) -> tuple[str, ...]:
    """The module codes in these events, as first printed, sorted."""
    names: dict[str, str] = {}
    for event in events:
        names.setdefault(module_key(event.module), event.module)
    return tuple(names[k] for k in sorted(names))


def is_dated(event: Event) -> bool:
    """True for tests and exams (single dated events), False for weekly classes."""
    return isinstance(event, TestSitting | ExamSitting)


@dataclass(frozen=True, slots=True)
class SavedTimetable:
    """A timetable as stored for the web UI: its parse jobs and the raw choices and options JSON."""

    id: str
    job_ids: tuple[str, ...]
    selection: Mapping[str, Any]
    options: Mapping[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime
    expires_at: dt.datetime
    sources: tuple[Mapping[str, Any], ...] | None = None  # its files as read, once kept by a live feed
