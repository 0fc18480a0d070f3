"""UP knowledge: the three table layouts, and how their cells become lecture, test and exam events."""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from schedgen.domain.events import (
    Event,
    ExamSitting,
    Kind,
    LectureSession,
    ParseWarning,
    TestSitting,
    Weekday,
)
from schedgen.parsing.geometry import CellLine, ColumnSpec, Row

MODULE_RE = re.compile(r"^([A-Z]{2,4})\s?(\d{3})([A-Z]?)$")
TIME_RE = re.compile(r"(\d{1,2})\s?[:hH.]\s?(\d{2})")
RANGE_RE = re.compile(r"(\d{1,2})\s?[:hH.]\s?(\d{2})\s*[-\u2013\u2014to]+\s*(\d{1,2})\s?[:hH.]\s?(\d{2})")
DATE_TEXT_RE = re.compile(r"(\d{1,2})[\s\-/]+([A-Za-z]{3,9})\.?[\s\-/,]+(\d{4})")
DATE_ISO_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
DATE_NUM_RE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
ACTIVITY_RE = re.compile(r"^[A-Z]{1,3}\d{1,2}$")
CONTINUATION_RE = re.compile(r"^([a-z,&/)\-]|[\d,\s]+$)")
MONTHS = {
    m: i
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], start=1
    )
}


class RowError(ValueError):
    """Raised when one table row cannot be understood; the parser reports it as a warning."""


@dataclass(frozen=True, slots=True)
class Layout:
    """A kind of UP timetable: its title, header columns and the row builder."""

    kind: Kind
    title: str
    columns: tuple[ColumnSpec, ...]
    build: Callable[[Row, list[str]], list[Event]]  # (row, problems found in it) -> events


def module_code(text: str) -> str | None:
    """Normalise a module code ("COS214" -> "COS 214"), or None when the text is not one."""
    match = MODULE_RE.match(text.strip().upper())
    return f"{match[1]} {match[2]}{match[3]}" if match else None


def is_module_line(line: CellLine) -> bool:
    """Whether a line in the Module column starts a new table row."""
    return line.column == "module" and module_code(line.text) is not None


def _clock(hour: str, minute: str) -> dt.time:
    try:
        return dt.time(int(hour), int(minute))
    except ValueError:
        raise RowError(f"not a time of day: {hour}:{minute}") from None


def parse_range(text: str) -> tuple[dt.time, dt.time]:
    """Parse "08:30 - 09:20" into start and end times."""
    match = RANGE_RE.search(text)
    if not match:
        raise RowError(f"no time range in {text!r}")
    start, end = _clock(match[1], match[2]), _clock(match[3], match[4])
    if end <= start:
        raise RowError(f"time range ends before it starts: {text!r}")
    return start, end


def parse_time(text: str) -> dt.time:
    """Parse the first "HH:MM" in a text."""
    match = TIME_RE.search(text)
    if not match:
        raise RowError(f"no time in {text!r}")
    return _clock(match[1], match[2])


def parse_date(text: str) -> dt.date:
    """Parse "23 Aug 2025", "12 NOV 2025", "2025-08-23" or "23/08/2025"."""
    try:
        if match := DATE_TEXT_RE.search(text):
            month = MONTHS.get(match[2][:3].lower())
            if month is not None:
                return dt.date(int(match[3]), month, int(match[1]))
        if match := DATE_ISO_RE.search(text):
            return dt.date(int(match[1]), int(match[2]), int(match[3]))
        if match := DATE_NUM_RE.search(text):
            return dt.date(int(match[3]), int(match[2]), int(match[1]))
    except ValueError:
        raise RowError(f"not a calendar date: {text!r}") from None
    raise RowError(f"no date in {text!r}")


def _first_token(text: str) -> str:
    return text.split(maxsplit=1)[0] if text.split() else ""


def _activity(text: str) -> str:
    codes = [token for token in text.split() if ACTIVITY_RE.match(token)]
    return codes[-1] if codes else text.strip()


def _module(row: Row) -> str:
    code = module_code(row.lines("module")[0].text) if row.lines("module") else None
    if code is None:
        raise RowError("row has no module code")
    return code


def _position(line: CellLine) -> tuple[int, float]:
    return line.page, line.top


def _bands(row: Row, key: str, tolerance: float) -> list[tuple[CellLine, list[CellLine]]]:
    """For each time range in the key column, the lines of every column from it down to the next one.

    A key-column line that does not finish a time range ("08:30 -" wrapped before "09:20") is merged into
    the band it continues, so the band's key line carries the whole range.
    """
    keys: list[CellLine] = []
    for line in sorted(row.lines(key), key=_position):
        if keys and not RANGE_RE.search(keys[-1].text):
            keys[-1] = keys[-1]._replace(text=f"{keys[-1].text} {line.text}", bottom=line.bottom)
        else:
            keys.append(line)
    starts = [(k.page, k.top - tolerance) for k in keys]  # sorted, since keys are
    bands: list[tuple[CellLine, list[CellLine]]] = [(k, []) for k in keys]
    for column, lines in row.cells.items():
        if column == key:
            continue
        for line in lines:
            owner = bisect.bisect_right(starts, _position(line)) - 1
            if owner >= 0:
                bands[owner][1].append(line)
    for _, lines in bands:
        lines.sort(key=_position)
    return bands


def _aligned(band: tuple[CellLine, list[CellLine]], column: str, tolerance: float) -> str | None:
    """The text in a column on the same line as the band's key line, if any."""
    key, lines = band
    for line in lines:
        if line.column == column and line.page == key.page and abs(line.top - key.top) <= tolerance:
            return line.text
    return None


def _tolerance(row: Row) -> float:
    lines = [ln for col in row.cells.values() for ln in col]
    return min(ln.bottom - ln.top for ln in lines) * 0.5 if lines else 3.0


def build_lectures(row: Row, problems: list[str]) -> list[Event]:
    """One event per time line of a lectures row; same-slot lines with other venues merge later.

    A time line that cannot be read is reported in `problems`; the row's other sessions still count.
    """
    module = _module(row)
    tolerance = _tolerance(row)
    bands = _bands(row, "time", tolerance)
    if not bands:
        raise RowError(f"{module}: row has no class times")
    offered, group = _first_token(row.text("offered")), _first_token(row.text("group"))
    language = _first_token(row.text("lang"))
    row_campus = row.lines("campus")[0].text if row.lines("campus") else ""
    events: list[Event] = []
    activity = day = None
    for band in bands:
        activity = _aligned(band, "activity", tolerance) or activity
        day = _aligned(band, "day", tolerance) or day
        try:
            if activity is None or day is None:
                raise RowError("a class time has no activity or day")
            start, end = parse_range(band[0].text)
            weekday = _weekday(day)
        except RowError as problem:
            problems.append(f"{module} {group}: {problem}")
            continue
        venue = " ".join(ln.text for ln in band[1] if ln.column == "venue")
        events.append(
            LectureSession(
                module=module,
                offered=offered,
                group=group,
                language=language,
                activity=_activity(activity),
                day=weekday,
                start=start,
                end=end,
                venues=(venue,) if venue else (),
                campus=_aligned(band, "campus", tolerance) or row_campus,
                study_programme=row.text("programme"),
            )
        )
    return events


def _weekday(text: str) -> Weekday:
    try:
        return Weekday.from_label(text)
    except ValueError:
        raise RowError(f"not a day of the week: {text!r}") from None


def _venue_list(lines: Sequence[CellLine]) -> tuple[str, ...]:
    """One venue per line, except lines that plainly continue a wrapped venue name."""
    venues: list[str] = []
    for line in lines:
        text = line.text.strip()
        if venues and (CONTINUATION_RE.match(text) or venues[-1].endswith((",", "&", "/", "-", "("))):
            venues[-1] = f"{venues[-1]} {text}"
        elif text:
            venues.append(text)
    return tuple(venues)


def build_tests(row: Row, problems: list[str]) -> list[Event]:
    """One sitting per time line of a semester tests row (normally exactly one)."""
    module = _module(row)
    tolerance = _tolerance(row)
    label = row.text("test")
    bands = _bands(row, "time", tolerance)
    if not bands:
        raise RowError(f"{module} {label}: row has no time")
    events: list[Event] = []
    day = date_text = None
    for band in bands:
        day = _aligned(band, "day", tolerance) or day or row.text("day")
        date_text = _aligned(band, "date", tolerance) or date_text or row.text("date")
        try:
            start, end = parse_range(band[0].text)
            date = parse_date(date_text)
        except RowError as problem:
            problems.append(f"{module} {label}: {problem}")
            continue
        campus = _aligned(band, "campus", tolerance) or row.text("campus")
        venues = _venue_list([ln for ln in band[1] if ln.column == "venue"])
        events.append(TestSitting(module, label, day.strip(), date, start, end, venues, campus.strip()))
    return events


def build_exams(row: Row, problems: list[str]) -> list[Event]:
    """One sitting per exams row; wrapped cell lines join into one text (one venue)."""
    module = _module(row)
    venue = row.text("venue").strip()
    comments = row.text("comments").strip()
    return [
        ExamSitting(
            module=module,
            activity=row.text("activity").strip(),
            status=row.text("status").strip(),
            paper=row.text("paper").strip(),
            date=parse_date(row.text("date")),
            start=parse_time(row.text("start")),
            venues=(venue,) if venue else (),
            campus=row.text("exam_campus").strip(),
            module_campus=row.text("module_campus").strip(),
            comments=comments or None,
        )
    ]


LAYOUTS: tuple[Layout, ...] = (
    Layout(
        Kind.LECTURES,
        "Lectures",
        (
            ColumnSpec("module", ("Module",)),
            ColumnSpec("offered", ("Offered", "Offering")),
            ColumnSpec("group", ("Group",)),
            ColumnSpec("lang", ("Lang", "Language"), optional=True),
            ColumnSpec("activity", ("Activity",)),
            ColumnSpec("day", ("Day",)),
            ColumnSpec("time", ("Time",)),
            ColumnSpec("venue", ("Venue",)),
            ColumnSpec("campus", ("Campus",), optional=True),
            ColumnSpec("programme", ("Study Prog", "Study Programme"), optional=True),
        ),
        build_lectures,
    ),
    Layout(
        Kind.TESTS,
        "Semester Tests",
        (
            ColumnSpec("module", ("Module",)),
            ColumnSpec("test", ("Test",)),
            ColumnSpec("day", ("Day",), optional=True),
            ColumnSpec("date", ("Date",)),
            ColumnSpec("time", ("Time",)),
            ColumnSpec("campus", ("Campus",), optional=True),
            ColumnSpec("venue", ("Venue",)),
        ),
        build_tests,
    ),
    Layout(
        Kind.EXAMS,
        "Exams",
        (
            ColumnSpec("status", ("Status",)),
            ColumnSpec("module", ("Module",)),
            ColumnSpec("paper", ("Paper",)),
            ColumnSpec("activity", ("Activity",)),
            ColumnSpec("date", ("Date",)),
            ColumnSpec("start", ("Start Time", "Start")),
            ColumnSpec("module_campus", ("Module Campus",), optional=True),
            ColumnSpec("exam_campus", ("Exam Campus",), optional=True),
            ColumnSpec("venue", ("Venue",)),
            ColumnSpec("comments", ("Exam Comments", "Comments"), optional=True),
        ),
        build_exams,
    ),
)


def merge_sessions(events: Sequence[Event]) -> list[Event]:
    """Merge lecture lines of the same module/group/activity/day/time into one session with several venues."""
    slots: dict[tuple[object, ...], int] = {}
    out: list[Event] = []
    for event in events:
        if not isinstance(event, LectureSession):
            out.append(event)
            continue
        key = (event.module, event.offered, event.group, event.activity, event.day, event.start, event.end)
        index = slots.get(key)
        if index is None:
            slots[key] = len(out)
            out.append(event)
            continue
        first = out[index]
        assert isinstance(first, LectureSession)
        venues = first.venues + tuple(v for v in event.venues if v not in first.venues)
        out[index] = dataclasses.replace(first, venues=venues)
    return out


def warning_for(row: Row, problem: object) -> ParseWarning:
    """A student-readable warning for a row (or part of one) that could not be read."""
    text = " | ".join(ln.text for col in row.cells.values() for ln in col)
    return ParseWarning(page=row.page, message=f"Could not read a row: {problem}", text=text[:300])
