"""UP knowledge on hand-built rows: cells to lecture, test and exam events, and what becomes a problem."""

from __future__ import annotations

import datetime as dt

import pytest

from schedgen.domain.events import ExamSitting, LectureSession, TestSitting, Weekday
from schedgen.parsing.geometry import CellLine, Row
from schedgen.parsing.up import (
    RowError,
    build_exams,
    build_lectures,
    build_tests,
    merge_sessions,
    module_code,
    parse_date,
    parse_range,
)

LINE = 12.0


def row(*cells: tuple[str, int, str], page: int = 1) -> Row:
    """A row from (column, line number, text) triples; line n sits n line-heights below the row's top."""
    built = Row(page, 100.0)
    for column, n, text in cells:
        top = 100.0 + n * LINE
        built.add(CellLine(page, column, top, top + 10, 0.0, text))
    return built


def lecture_row(*lines: tuple[str, str, str, str]) -> Row:
    cells = [("module", 0, "COS 214"), ("offered", 0, "S2"), ("group", 0, "P01"), ("lang", 0, "E")]
    for n, (activity, day, time, venue) in enumerate(lines):
        cells += [
            (c, n, t)
            for c, t in (("activity", activity), ("day", day), ("time", time), ("venue", venue))
            if t
        ]
    cells.append(("campus", 0, "HATFIELD"))
    return row(*cells)


def test_one_session_per_time_line_with_its_venue() -> None:
    problems: list[str] = []
    events = build_lectures(
        lecture_row(
            ("P1", "Tuesday", "11:30 - 14:20", "Grey Lab"), ("P1", "Tuesday", "11:30 - 14:20", "Orange Lab")
        ),
        problems,
    )
    assert problems == []
    merged = merge_sessions(events)
    assert len(merged) == 1
    session = merged[0]
    assert isinstance(session, LectureSession)
    assert session.venues == ("Grey Lab", "Orange Lab")
    assert (session.day, session.start, session.end) == (Weekday.TUESDAY, dt.time(11, 30), dt.time(14, 20))
    assert (session.module, session.group, session.campus, session.language) == (
        "COS 214",
        "P01",
        "HATFIELD",
        "E",
    )


def test_blank_activity_and_day_repeat_the_line_above() -> None:
    events = build_lectures(
        lecture_row(("P1", "Monday", "08:30 - 09:20", "A"), ("", "", "10:30 - 11:20", "B")), []
    )
    assert [(e.activity, e.day) for e in events if isinstance(e, LectureSession)] == [
        ("P1", Weekday.MONDAY),
        ("P1", Weekday.MONDAY),
    ]


def test_a_bad_time_line_is_a_problem_but_the_rest_of_the_row_stays() -> None:
    problems: list[str] = []
    events = build_lectures(
        lecture_row(("L1", "Monday", "08:30 - 09:20", "A"), ("L2", "Funday", "10:30 - 11:20", "B")), problems
    )
    assert len(events) == 1
    assert problems == ["COS 214 P01: not a day of the week: 'Funday'"]


def test_time_range_wrapped_over_two_lines_is_one_session() -> None:
    built = lecture_row(("L1", "Monday", "08:30 -", "Room 1"))
    built.add(CellLine(1, "time", 112.0, 122.0, 0.0, "09:20"))
    events = build_lectures(built, [])
    assert [(e.start, e.end) for e in events if isinstance(e, LectureSession)] == [
        (dt.time(8, 30), dt.time(9, 20))
    ]


def test_wrapped_venue_in_a_lecture_line_joins() -> None:
    built = lecture_row(("L1", "Monday", "08:30 - 09:20", "IT Building CBT Labs"))
    built.add(CellLine(1, "venue", 112.0, 122.0, 0.0, "1,2,3"))
    (event,) = build_lectures(built, [])
    assert isinstance(event, LectureSession)
    assert event.venues == ("IT Building CBT Labs 1,2,3",)


def test_row_without_times_raises() -> None:
    with pytest.raises(RowError):
        build_lectures(row(("module", 0, "COS 214"), ("group", 0, "G01")), [])


def test_test_sitting_joins_wrapped_label_and_lists_venues() -> None:
    built = row(
        ("module", 0, "STK 220"),
        ("test", 0, "PTest"),
        ("test", 1, "1"),
        ("day", 0, "Saturday"),
        ("date", 0, "30 Aug 2025"),
        ("time", 0, "15:00 - 17:00"),
        ("campus", 0, "HATFIELD"),
        ("venue", 0, "IT Open Bronze Lab"),
        ("venue", 1, "IT Building CBT Labs"),
        ("venue", 2, "1,2,3"),
        ("venue", 3, "AE Annex"),
    )
    (sitting,) = build_tests(built, [])
    assert sitting == TestSitting(
        "STK 220",
        "PTest 1",
        "Saturday",
        dt.date(2025, 8, 30),
        dt.time(15),
        dt.time(17),
        ("IT Open Bronze Lab", "IT Building CBT Labs 1,2,3", "AE Annex"),
        "HATFIELD",
    )


def test_exam_with_empty_venue_and_comments() -> None:
    built = row(
        ("status", 0, "PROVISIONAL"),
        ("module", 0, "WTW 285"),
        ("paper", 0, "2"),
        ("activity", 0, "Exam"),
        ("activity", 1, "Written"),
        ("date", 0, "17 NOV 2025"),
        ("start", 0, "07:30"),
    )
    (exam,) = build_exams(built, [])
    assert exam == ExamSitting(
        "WTW 285", "Exam Written", "PROVISIONAL", "2", dt.date(2025, 11, 17), dt.time(7, 30), (), ""
    )
    assert exam.comments is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("COS 214", "COS 214"),
        ("cos214", "COS 214"),
        ("JCP 111A", "JCP 111A"),
        ("Page 1", None),
        ("HATFIELD", None),
    ],
)
def test_module_codes(text: str, expected: str | None) -> None:
    assert module_code(text) == expected


@pytest.mark.parametrize(
    "text", ["23 Aug 2025", "23 AUG 2025", "23 August 2025", "2025-08-23", "23/08/2025", "Sat 23 Aug 2025"]
)
def test_dates(text: str) -> None:
    assert parse_date(text) == dt.date(2025, 8, 23)


@pytest.mark.parametrize("text", ["31 Feb 2025", "23 Foo 2025", "soon"])
def test_bad_dates_raise(text: str) -> None:
    with pytest.raises(RowError):
        parse_date(text)


@pytest.mark.parametrize("text", ["10:00 - 11:30", "10:00-11:30", "10h00 - 11h30", "10:00 \u2013 11:30"])
def test_time_ranges(text: str) -> None:
    assert parse_range(text) == (dt.time(10), dt.time(11, 30))


@pytest.mark.parametrize("text", ["11:30 - 10:00", "25:00 - 26:00", "10:00"])
def test_bad_time_ranges_raise(text: str) -> None:
    with pytest.raises(RowError):
        parse_range(text)
