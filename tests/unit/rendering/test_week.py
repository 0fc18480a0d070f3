"""The weekly grid: rows, side-by-side lanes, clashes (alternatives never clash), month views, colours."""

from __future__ import annotations

import datetime as dt

from schedgen.domain.choices import event_key
from schedgen.domain.events import ExamSitting, LectureSession, TestSitting, Weekday
from schedgen.rendering.colours import default_colour
from schedgen.rendering.week import (
    LANE_COLUMNS,
    SLOTS,
    dated_clashes,
    distinct_colours,
    month_views,
    week_grid,
    weekly_clashes,
)


def session(module: str, group: str, activity: str, day: Weekday, span: str) -> LectureSession:
    start, end = span.split("-")
    return LectureSession(
        module,
        "S2",
        group,
        "E",
        activity,
        day,
        dt.time.fromisoformat(start),
        dt.time.fromisoformat(end),
        (),
        "",
    )


MON_L1 = session("COS 214", "G01", "L1", Weekday.MONDAY, "08:30-09:20")
MON_P1 = session("COS 226", "P01", "P1", Weekday.MONDAY, "09:00-11:20")
MON_P2 = session("COS 226", "P02", "P1", Weekday.MONDAY, "09:30-10:20")
TUE_L2 = session("COS 214", "G01", "L2", Weekday.TUESDAY, "07:30-08:20")


def test_rows_are_ten_minute_slots_from_seven() -> None:
    grid = week_grid([TUE_L2], lambda m: "7")
    block = grid.days[1].blocks[0]
    assert (block.row, block.rows) == (4, 5)  # 07:30 is row 4; 50 minutes are 5 rows
    assert (block.column, block.columns) == (1, LANE_COLUMNS)
    assert block.colour_id == "7"
    assert not block.clashes
    assert not block.cut
    assert [label for _, label in grid.hours][:2] == ["07:00", "08:00"]
    assert SLOTS == 78


def test_overlaps_share_the_column_and_clash_unless_alternatives() -> None:
    grid = week_grid([MON_L1, MON_P1, MON_P2], lambda m: "1", options=[event_key(MON_P1), event_key(MON_P2)])
    blocks = {b.session: b for b in grid.days[0].blocks}
    assert {(b.column, b.columns) for b in blocks.values()} == {(1, 6), (7, 6)}  # P02 reuses L1's lane
    assert (blocks[MON_P2].column, blocks[MON_P1].column) == (1, 7)
    assert blocks[MON_L1].clashes == (MON_P1,)
    assert blocks[MON_P1].clashes == (MON_L1,)  # P01 and P02 are alternatives: no clash between them
    assert blocks[MON_P2].clashes == ()
    assert blocks[MON_P1].option
    assert not blocks[MON_L1].option
    assert grid.clash_count == 1


def test_touching_sessions_do_not_clash_and_each_takes_the_full_width() -> None:
    after = session("WTW 285", "G01", "L1", Weekday.MONDAY, "09:20-10:20")
    assert weekly_clashes([MON_L1, after]) == {}
    grid = week_grid([MON_L1, after], lambda m: "1")
    assert all(b.columns == LANE_COLUMNS for b in grid.days[0].blocks)


def test_sessions_outside_the_grid_are_clipped_or_listed() -> None:
    early = session("X 100", "G01", "L1", Weekday.FRIDAY, "06:30-07:50")
    late = session("X 100", "G01", "L2", Weekday.FRIDAY, "19:30-21:00")
    sunday = session("X 100", "G01", "L3", Weekday.SUNDAY, "10:30-11:20")
    grid = week_grid([early, late, sunday], lambda m: "1")
    friday = {b.session: b for b in grid.days[4].blocks}
    assert (friday[early].row, friday[early].rows, friday[early].cut) == (1, 5, True)
    assert (friday[late].row, friday[late].row + friday[late].rows - 1, friday[late].cut) == (76, 78, True)
    assert grid.off_grid == (sunday,)
    assert not week_grid([], lambda m: "1").days[0].blocks
    assert week_grid([], lambda m: "1").empty


def test_dated_clashes_use_the_exam_length() -> None:
    day = dt.date(2025, 11, 13)
    exam = ExamSitting("COS 214", "Exam Written", "FINAL", "1", day, dt.time(8), (), "")
    test = TestSitting("STK 220", "Test1", "Thursday", day, dt.time(10, 30), dt.time(12), (), "")
    assert dated_clashes([exam, test], dt.timedelta(hours=3)) == {
        event_key(exam): (test,),
        event_key(test): (exam,),
    }
    assert dated_clashes([exam, test], dt.timedelta(hours=2)) == {}


def test_month_views_cover_every_month_with_a_sitting() -> None:
    a = TestSitting(
        "COS 214", "Test1", "Wednesday", dt.date(2025, 8, 27), dt.time(10), dt.time(11, 30), (), ""
    )
    b = ExamSitting("COS 214", "Exam", "FINAL", "1", dt.date(2025, 11, 13), dt.time(15), (), "")
    months = month_views([b, a])
    assert [m.title for m in months] == ["August 2025", "November 2025"]
    cells = [c for week in months[0].weeks for c in week]
    assert [c.events for c in cells if c.date == dt.date(2025, 8, 27)] == [(a,)]
    assert cells[0].date is None  # 1 August 2025 is a Friday: Monday-first padding
    assert all(len(week) == 7 for week in months[1].weeks)


def test_distinct_colours_prefer_choice_then_default_then_next_free() -> None:
    colours = distinct_colours(["COS 214", "COS 226", "cos214"], {"WTW 285": "3"})
    assert set(colours) == {"COS214", "COS226"}
    assert colours["COS214"] == default_colour("COS 214").color_id
    assert colours["COS226"] != colours["COS214"] or default_colour("COS 226") != default_colour("COS 214")
    assert distinct_colours(["COS 214"], {"cos 214": "Tomato"}) == {"COS214": "11"}
