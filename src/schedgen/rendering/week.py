"""Pure view logic of the web UI: the weekly grid (Mon-Sat, 07:00-20:00) with clashes, and month views."""

from __future__ import annotations

import calendar
import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from schedgen.domain.choices import choice_key, event_key
from schedgen.domain.events import Event, ExamSitting, LectureSession, TestSitting, Weekday
from schedgen.domain.selection import group_key, module_key
from schedgen.rendering.colours import GOOGLE_COLOURS, default_colour, parse_colour

GRID_START = dt.time(7, 0)  # first row of the weekly grid
GRID_END = dt.time(20, 0)  # end of its last row
SLOT_MINUTES = 10  # one grid row; UP classes start and end on ten-minute marks
GRID_DAYS = (
    Weekday.MONDAY,
    Weekday.TUESDAY,
    Weekday.WEDNESDAY,
    Weekday.THURSDAY,
    Weekday.FRIDAY,
    Weekday.SATURDAY,
)
LANE_COLUMNS = 12  # a day column is split into 12 tracks, so 1, 2, 3, 4 or 6 side-by-side blocks fit exactly
SLOTS = ((GRID_END.hour * 60 + GRID_END.minute) - (GRID_START.hour * 60 + GRID_START.minute)) // SLOT_MINUTES


def _minutes(value: dt.time) -> int:
    return value.hour * 60 + value.minute


def overlaps(a_start: dt.time, a_end: dt.time, b_start: dt.time, b_end: dt.time) -> bool:
    """True if two same-day time spans share at least one minute (touching ends do not clash)."""
    return a_start < b_end and b_start < a_end


def alternatives(a: LectureSession, b: LectureSession) -> bool:
    """True if a and b are different groups of the same module's activity type (one will be chosen)."""
    return choice_key(a.module, a.activity_type) == choice_key(b.module, b.activity_type) and group_key(
        a.group
    ) != group_key(b.group)


def weekly_clashes(sessions: Sequence[LectureSession]) -> dict[str, tuple[LectureSession, ...]]:
    """For each session (by event key) the sessions it clashes with; alternatives never clash."""
    found: dict[str, list[LectureSession]] = defaultdict(list)
    by_day: dict[Weekday, list[LectureSession]] = defaultdict(list)
    for session in dict.fromkeys(sessions):
        by_day[session.day].append(session)
    for day_sessions in by_day.values():
        for i, a in enumerate(day_sessions):
            for b in day_sessions[i + 1 :]:
                if overlaps(a.start, a.end, b.start, b.end) and not alternatives(a, b):
                    found[event_key(a)].append(b)
                    found[event_key(b)].append(a)
    return {k: tuple(v) for k, v in found.items()}


def _dated_span(
    event: TestSitting | ExamSitting, exam_length: dt.timedelta
) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(event.date, event.start)
    if event.end is not None and event.end > event.start:
        return start, dt.datetime.combine(event.date, event.end)
    return start, start + exam_length


def dated_clashes(
    events: Sequence[TestSitting | ExamSitting], exam_length: dt.timedelta
) -> dict[str, tuple[TestSitting | ExamSitting, ...]]:
    """For each test or exam (by event key) the tests and exams on the same date that overlap it."""
    found: dict[str, list[TestSitting | ExamSitting]] = defaultdict(list)
    spans = [(e, *_dated_span(e, exam_length)) for e in dict.fromkeys(events)]
    for i, (a, a_start, a_end) in enumerate(spans):
        for b, b_start, b_end in spans[i + 1 :]:
            if a_start < b_end and b_start < a_end:
                found[event_key(a)].append(b)
                found[event_key(b)].append(a)
    return {k: tuple(v) for k, v in found.items()}


@dataclass(frozen=True, slots=True)
class WeekBlock:
    """One weekly session placed on the grid: rows from 1 at 07:00, tracks of LANE_COLUMNS per day."""

    session: LectureSession
    key: str
    row: int  # first grid row (1-based)
    rows: int  # how many rows it spans (at least 1)
    column: int  # first track (1-based)
    columns: int  # how many tracks it spans
    clashes: tuple[LectureSession, ...]
    option: bool  # one of several groups still to choose from
    cut: bool  # starts before 07:00 or ends after 20:00 (drawn clipped)
    colour_id: str


@dataclass(frozen=True, slots=True)
class WeekDay:
    """One day column of the grid."""

    day: Weekday
    blocks: tuple[WeekBlock, ...]


@dataclass(frozen=True, slots=True)
class WeekGrid:
    """The whole grid: six day columns, hour labels, and sessions that cannot be drawn (Sundays)."""

    days: tuple[WeekDay, ...]
    hours: tuple[tuple[int, str], ...]  # (grid row, "08:00")
    off_grid: tuple[LectureSession, ...]
    clash_count: int  # pairs of clashing sessions

    @property
    def empty(self) -> bool:
        """True when no session is drawn."""
        return not any(day.blocks for day in self.days)


def _rows(session: LectureSession) -> tuple[int, int, bool]:
    first, last = _minutes(GRID_START), _minutes(GRID_END)
    start = max(_minutes(session.start), first)
    end = min(max(_minutes(session.end), start + SLOT_MINUTES), last)
    cut = _minutes(session.start) < first or _minutes(session.end) > last
    if start >= last:  # wholly after the grid: a sliver on the last row
        return SLOTS, 1, True
    row = (start - first) // SLOT_MINUTES + 1
    end_row = -(-(end - first) // SLOT_MINUTES) + 1  # ceiling: a class ending 08:50 fills the 08:40 row
    return row, max(end_row - row, 1), cut


def _lanes(sessions: Sequence[LectureSession]) -> dict[LectureSession, tuple[int, int]]:
    """Side-by-side lanes for overlapping sessions: session -> (lane, lanes in its overlapping cluster)."""
    ordered = sorted(sessions, key=lambda s: (s.start, s.end, s.module, s.group, s.activity))
    out: dict[LectureSession, tuple[int, int]] = {}
    cluster: list[tuple[LectureSession, int]] = []
    cluster_end = dt.time.min
    lane_ends: list[dt.time] = []

    def close() -> None:
        for member, lane in cluster:
            out[member] = (lane, len(lane_ends))

    for session in ordered:
        if cluster and session.start >= cluster_end:
            close()
            cluster, lane_ends = [], []
        free = next((i for i, end in enumerate(lane_ends) if end <= session.start), None)
        if free is None:
            lane_ends.append(session.end)
            free = len(lane_ends) - 1
        else:
            lane_ends[free] = session.end
        cluster.append((session, free))
        cluster_end = max(cluster_end, session.end) if len(cluster) > 1 else session.end
    close()
    return out


def week_grid(
    sessions: Iterable[LectureSession],
    colour_of: Callable[[str], str],
    options: Iterable[str] = (),
) -> WeekGrid:
    """Lay out weekly sessions on the Mon-Sat grid; `options` are the event keys of undecided alternatives."""
    unique = tuple(dict.fromkeys(sessions))
    clashes = weekly_clashes(unique)
    undecided = set(options)
    days: list[WeekDay] = []
    for day in GRID_DAYS:
        on_day = [s for s in unique if s.day == day]
        lanes = _lanes(on_day)
        blocks = []
        for session in sorted(on_day, key=lambda s: (s.start, s.end, s.module, s.group)):
            lane, count = lanes[session]
            width = max(LANE_COLUMNS // count, 1)
            row, rows, cut = _rows(session)
            key = event_key(session)
            blocks.append(
                WeekBlock(
                    session=session,
                    key=key,
                    row=row,
                    rows=rows,
                    column=min(lane * width, LANE_COLUMNS - 1) + 1,
                    columns=width,
                    clashes=clashes.get(key, ()),
                    option=key in undecided,
                    cut=cut,
                    colour_id=colour_of(session.module),
                )
            )
        days.append(WeekDay(day, tuple(blocks)))
    hours = tuple(
        ((h - GRID_START.hour) * 60 // SLOT_MINUTES + 1, f"{h:02d}:00")
        for h in range(GRID_START.hour, GRID_END.hour)
    )
    off_grid = tuple(s for s in unique if s.day not in GRID_DAYS)
    pairs = sum(len(v) for v in clashes.values()) // 2
    return WeekGrid(tuple(days), hours, off_grid, pairs)


@dataclass(frozen=True, slots=True)
class MonthDay:
    """One cell of a month view: a date (None for padding) and the tests and exams on it."""

    date: dt.date | None
    events: tuple[TestSitting | ExamSitting, ...]


@dataclass(frozen=True, slots=True)
class Month:
    """One month of the month view, Monday-first weeks."""

    year: int
    month: int
    weeks: tuple[tuple[MonthDay, ...], ...]

    @property
    def title(self) -> str:
        """ "November 2025"."""
        return f"{calendar.month_name[self.month]} {self.year}"


def month_views(events: Iterable[TestSitting | ExamSitting]) -> tuple[Month, ...]:
    """Every month that holds a test or exam, in order, as Monday-first weeks of days."""
    by_date: dict[dt.date, list[TestSitting | ExamSitting]] = defaultdict(list)
    for event in sorted(events, key=lambda e: (e.date, e.start, e.module)):
        by_date[event.date].append(event)
    months = sorted({(d.year, d.month) for d in by_date})
    out: list[Month] = []
    for year, month in months:
        weeks = tuple(
            tuple(
                MonthDay(None, ())
                if day == 0
                else MonthDay(dt.date(year, month, day), tuple(by_date.get(dt.date(year, month, day), ())))
                for day in week
            )
            for week in calendar.Calendar(firstweekday=0).monthdayscalendar(year, month)
        )
        out.append(Month(year, month, weeks))
    return tuple(out)


def event_label(event: Event) -> str:
    """A short label: "COS 214 P1 (P02)" for classes, "COS 214 Test1" or "COS 214 Exam" otherwise."""
    if isinstance(event, LectureSession):
        return f"{event.module} {event.activity} ({event.group})"
    if isinstance(event, TestSitting):
        return f"{event.module} {event.activity}"
    return f"{event.module} Exam" + ("" if event.paper.strip() in ("", "1") else f" (paper {event.paper})")


def distinct_colours(modules: Iterable[str], chosen: Mapping[str, str]) -> dict[str, str]:
    """module key -> Google colour id: the student's choice, else the module's default, else the next free one."""
    out: dict[str, str] = {}
    keys = sorted({module_key(m) for m in modules})
    for key in keys:
        for module, colour in chosen.items():
            if module_key(module) == key:
                out[key] = parse_colour(colour).color_id
    used = set(out.values())
    for key in keys:
        if key in out:
            continue
        first = default_colour(key)
        start = GOOGLE_COLOURS.index(first)
        ring = GOOGLE_COLOURS[start:] + GOOGLE_COLOURS[:start]
        pick = next((c for c in ring if c.color_id not in used), first)
        out[key] = pick.color_id
        used.add(pick.color_id)
    return out
