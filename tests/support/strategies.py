"""Hypothesis strategies for random, realistic UP timetables (in canonical form) and drawing layouts."""

from __future__ import annotations

import datetime as dt
import math
import string
from collections.abc import Iterable

from hypothesis import strategies as st

from schedgen.domain.events import ExamSitting, Kind, LectureSession, TestSitting, Timetable, Weekday
from tests.support.updraw import A4_LANDSCAPE, EXAMS, LECTURES, TESTS, Layout, Sheet, text_width

LETTER_LANDSCAPE = (792.0, 612.0)
A3_LANDSCAPE = (1190.6, 841.9)
PREFIXES = ("COS", "WTW", "STK", "INF", "EKN", "FRK", "PHY", "CMY", "MTX", "EBN", "BME", "OBS", "ALL", "JCP")
NARROW_LETTERS = string.ascii_uppercase.replace("M", "").replace("W", "")  # 4-letter codes stay narrow
MAX_MODULE_WIDTH = 46.0  # points at 10 pt; the widest real code ("WTW 285") is 44
OFFERINGS = ("S1", "S2", "Y", "Q1", "Q2", "Q3", "Q4")
CAMPUSES = ("HATFIELD", "GROENKLOOF", "ONDERSTEPOORT", "MAMELODI", "PRINSHOF")
TEACHING_DAYS = tuple(d for d in Weekday if d is not Weekday.SUNDAY)
VENUES = (
    "IT 4-4",
    "IT 2-23",
    "IT 2-26",
    "IT 4-1",
    "Centenary 1",
    "Centenary 6",
    "EMS 4-152",
    "HB 4-1",
    "HB 4-3",
    "Thuto 3-1",
    "Eng III - 7",
    "AE du Toit Auditorium",
    "AE Annex",
    "Informatorium Blue Lab 1",
    "Informatorium Blue Lab 2",
    "Informatorium Blue Lab 3",
    "Informatorium Red Lab",
    "Informatorium Green Lab",
    "Informatorium Grey Lab",
    "Informatorium Orange Lab",
    "Informatorium Maroon Lab",
    "Informatorium Brown Lab",
    "Informatorium Purple Lab",
    "Informatorium SIT 1 lab",
    "Informatorium CBT Lab 1",
    "Informatorium CBT Lab 2",
    "Informatorium CBT Lab 3",
    "IT Open Bronze Lab",
    "IT Open Gold Lab",
    "IT Open Silver Lab",
    "IT Open Copper Lab",
    "IT Building CBT Labs 1,2,3",
)
TEST_LABELS = ("Test1", "Test2", "Test3", "PTest 1", "PTest 2", "PTest 3")
EXAM_STATUSES = ("FINAL", "PROVISIONAL")
EXAM_ACTIVITIES = ("Exam Written",)
EXAM_COMMENTS = ("Open book", "Closed book", "Bring your own calculator")
# minutes a session of each activity letter lasts: 50 (x:30 - y:20), 80 (x:30 - y:50), 110, 170
DURATIONS = {"L": (50, 110), "P": (110, 170), "T": (50, 80)}
ACTIVITY_LETTER = {"G": "L", "P": "P", "T": "T"}  # group letter -> activity letter
LAST_END = dt.time(21, 0)  # no class, test or exam ends after this


def module_codes() -> st.SearchStrategy[str]:
    """Module codes: 3-4 uppercase letters, a space, 3 digits ("COS 214")."""
    letters = st.one_of(
        st.sampled_from(PREFIXES),
        st.text(string.ascii_uppercase, min_size=3, max_size=3),
        st.text(NARROW_LETTERS, min_size=4, max_size=4),
    )
    codes = st.builds(lambda p, n: f"{p} {n:03d}", letters, st.integers(100, 799))
    return codes.filter(lambda c: text_width(c, 10.0) <= MAX_MODULE_WIDTH)


def _at(minutes: int) -> dt.time:
    return dt.time(minutes // 60, minutes % 60)


@st.composite
def _class_slots(draw: st.DrawFn, letter: str) -> tuple[dt.time, dt.time]:
    """Start on the half hour from 07:30 and a duration fitting the activity type, ending by 21:00."""
    minutes = draw(st.sampled_from(DURATIONS[letter]))
    last_hour = (LAST_END.hour * 60 - minutes - 30) // 60
    start = draw(st.integers(7, last_hour)) * 60 + 30
    return _at(start), _at(start + minutes)


def venues(min_size: int = 1, max_size: int = 4) -> st.SearchStrategy[tuple[str, ...]]:
    """Distinct venue names from the UP vocabulary."""
    return st.lists(st.sampled_from(VENUES), min_size=min_size, max_size=max_size, unique=True).map(tuple)


@st.composite
def _group_sessions(
    draw: st.DrawFn, group: str, *, module: str, offered: str, campus: str, language: str
) -> list[LectureSession]:
    letter = ACTIVITY_LETTER[group[0]]
    sessions = []
    for number in range(1, draw(st.integers(1, 4 if letter == "L" else 2)) + 1):
        for _ in range(draw(st.integers(1, 2))):
            start, end = draw(_class_slots(letter))
            where = draw(venues(1, 2 if letter == "L" else 5))
            day = draw(st.sampled_from(TEACHING_DAYS))
            activity = f"{letter}{number}"
            sessions.append(
                LectureSession(module, offered, group, language, activity, day, start, end, where, campus)
            )
    return sessions


def _group_codes() -> st.SearchStrategy[list[str]]:
    code = st.builds(lambda g, n: f"{g}{n:02d}", st.sampled_from("GGPT"), st.integers(1, 12))
    return st.lists(code, min_size=1, max_size=4, unique=True).map(sorted)


@st.composite
def lecture_sessions(draw: st.DrawFn, max_modules: int = 4) -> tuple[LectureSession, ...]:
    """Weekly sessions of a few modules, sorted and merged as UP prints them."""
    modules = draw(st.lists(module_codes(), min_size=1, max_size=max_modules, unique=True))
    sessions: list[LectureSession] = []
    for module in sorted(modules):
        offered = draw(st.sampled_from(OFFERINGS))
        campus = draw(st.sampled_from(CAMPUSES))
        language = draw(st.sampled_from("EEEA"))
        for group in draw(_group_codes()):
            sessions += draw(
                _group_sessions(group, module=module, offered=offered, campus=campus, language=language)
            )
    return canonical_lectures(sessions)


def canonical_lectures(sessions: Iterable[LectureSession]) -> tuple[LectureSession, ...]:
    """Rows in first-seen order; same (activity, day, time) in a row merged; row-wide language and campus."""
    rows: dict[tuple[str, str, str], dict[tuple[object, ...], LectureSession]] = {}
    for s in sessions:
        row = rows.setdefault((s.module, s.offered, s.group), {})
        key = (s.activity, s.day, s.start, s.end)
        first = next(iter(row.values()), s)
        old = row.get(key)
        merged = s.venues if old is None else old.venues + s.venues
        row[key] = LectureSession(
            s.module,
            s.offered,
            s.group,
            first.language,
            s.activity,
            s.day,
            s.start,
            s.end,
            tuple(dict.fromkeys(merged)),
            first.campus,
        )
    return tuple(s for row in rows.values() for s in row.values())


def _one_in(n: int) -> st.SearchStrategy[bool]:
    """True about once in n draws."""
    return st.integers(1, n).map(lambda k: k == 1)


def _dates(year: int) -> st.SearchStrategy[dt.date]:
    days = st.dates(dt.date(year, 1, 1), dt.date(year, 12, 31))
    return days.filter(lambda d: d.weekday() != Weekday.SUNDAY)


@st.composite
def semester_tests(draw: st.DrawFn, max_sittings: int = 10) -> tuple[TestSitting, ...]:
    """Test sittings with 1-13 venues each, in date order as UP prints them."""
    year = draw(st.integers(2024, 2027))
    modules = draw(st.lists(module_codes(), min_size=1, max_size=4, unique=True))
    pairs = st.tuples(st.sampled_from(modules), st.sampled_from(TEST_LABELS))
    sittings = []
    for module, label in draw(st.lists(pairs, min_size=1, max_size=max_sittings, unique=True)):
        date = draw(_dates(year))
        start = draw(st.integers(14, 36)) * 30  # 07:00 ... 18:00
        end = start + draw(st.sampled_from((60, 90, 120, 180)))  # ends by 21:00
        campus = draw(st.sampled_from(CAMPUSES))
        where = draw(venues(1, 13))
        label_day = Weekday(date.weekday()).label
        sittings.append(TestSitting(module, label, label_day, date, _at(start), _at(end), where, campus))
    return tuple(sorted(sittings, key=lambda t: (t.date, t.start, t.module, t.activity)))


@st.composite
def exam_sittings(draw: st.DrawFn, max_sittings: int = 8) -> tuple[ExamSitting, ...]:
    """Exam sittings (one combined venue, sometimes none), in date order as UP prints them."""
    year = draw(st.integers(2024, 2027))
    pairs = st.tuples(module_codes(), st.sampled_from("1112"))
    sittings = []
    for module, paper in draw(st.lists(pairs, min_size=1, max_size=max_sittings, unique=True)):
        campus = draw(st.sampled_from((*CAMPUSES, "")))  # "" when UP leaves the cell empty
        module_campus = draw(st.sampled_from((*(c[:4] for c in CAMPUSES), "")))
        sittings.append(
            ExamSitting(
                module=module,
                activity=draw(st.sampled_from(EXAM_ACTIVITIES)),
                status=draw(st.sampled_from(EXAM_STATUSES)),
                paper=paper,
                date=draw(_dates(year)),
                start=_at(draw(st.integers(30, 72)) * 15),  # 07:30 ... 18:00 on the quarter hour
                venues=() if draw(_one_in(10)) else (draw(st.sampled_from(VENUES)),),  # () = empty cell
                campus=campus,
                module_campus=module_campus,
                comments=draw(st.sampled_from((None, None, None, None, None, None, *EXAM_COMMENTS))),
            )
        )
    return tuple(sorted(sittings, key=lambda e: (e.date, e.start, e.module, e.paper)))


def timetables(kind: Kind) -> st.SearchStrategy[Timetable]:
    """Whole timetables of one kind."""
    if kind is Kind.LECTURES:
        return lecture_sessions().map(lambda e: Timetable(kind=kind, events=e))
    if kind is Kind.TESTS:
        return semester_tests().map(lambda e: Timetable(kind=kind, events=e))
    return exam_sittings().map(lambda e: Timetable(kind=kind, events=e))


SHEET_OF = {Kind.LECTURES: LECTURES, Kind.TESTS: TESTS, Kind.EXAMS: EXAMS}


def _floor2(value: float) -> float:
    return math.floor(value * 100) / 100


def _between(low: float, high: float) -> st.SearchStrategy[float]:
    return st.floats(low, max(low, high)).map(_floor2).map(lambda v: max(low, v))


@st.composite
def layouts(draw: st.DrawFn, kind: Kind, *, split_wrapped: bool | None = None) -> Layout:
    """Page geometries that differ from UP's but still fit the table; short pages force page breaks.

    split_wrapped None lets page breaks fall inside wrapped text ("PTest" / "1") in some examples.
    """
    sheet: Sheet = SHEET_OF[kind]
    width, full_height = draw(st.sampled_from((A4_LANDSCAPE, LETTER_LANDSCAPE, A3_LANDSCAPE)))
    height = draw(st.just(full_height) | _between(260.0, full_height))
    margin_left = draw(_between(15.0, 60.0))
    room = width - margin_left - 5.0
    base_width = sum(c.width for c in sheet.columns)
    size = draw(_between(8.0, min(12.0, room / base_width * sheet.body_size)))
    scale = draw(_between(1.0, room / (base_width * size / sheet.body_size)))
    title_baseline = draw(_between(30.0, 60.0))
    return Layout(
        page_size=(width, height),
        margin_left=margin_left,
        margin_top=draw(_between(20.0, 60.0)),
        margin_bottom=draw(_between(20.0, 60.0)),
        title_baseline=title_baseline,
        title_size=draw(_between(14.0, 24.0)),
        table_top=title_baseline + draw(_between(12.0, 30.0)),
        font_size=size,
        column_scale=scale,
        cell_padding=draw(_between(0.3 * size, 0.75 * size)),  # UP: 5.65 pt at 10 pt
        row_padding=draw(_between(0.0, 3.0)),
        repeat_header=draw(st.booleans()),
        rules=draw(st.booleans()),
        split_rows=draw(st.booleans() | st.just(True)),
        split_wrapped=draw(st.booleans()) if split_wrapped is None else split_wrapped,
        study_prog_blank=draw(st.booleans() | st.just(True)),
        small_text_rise=draw(st.sampled_from((0.0, 0.0, 0.94))),
    )
