"""Table geometry on hand-placed words: headers, column edges, rows and page-break continuations."""

from __future__ import annotations

from schedgen.parsing.geometry import (
    CellLine,
    Column,
    ColumnSpec,
    Row,
    assign_rows,
    cell_lines,
    column_bounds,
    group_lines,
    match_header,
    table_end,
)
from schedgen.parsing.pdf import Word

SPECS = (
    ColumnSpec("status", ("Status",)),
    ColumnSpec("module", ("Module",)),
    ColumnSpec("start", ("Start Time",)),
    ColumnSpec("exam_campus", ("Exam Campus",), optional=True),
    ColumnSpec("comments", ("Exam Comments",), optional=True),
)


def word(text: str, x0: float, top: float, size: float = 10.0) -> Word:
    return Word(text, x0, x0 + len(text) * size * 0.5, top, top + size)


def test_words_on_one_baseline_form_one_line_left_to_right() -> None:
    lines = group_lines([word("b", 50, 100.5), word("a", 10, 100), word("c", 10, 120)])
    assert [ln.text for ln in lines] == ["a b", "c"]


def test_header_with_wrapped_and_multi_word_labels() -> None:
    words = [
        word("Status", 10, 100),
        word("Module", 60, 100),
        word("Start", 120, 100),
        word("Exam", 180, 100),
        word("Campus", 210, 100),
        word("Exam", 280, 100),
        word("Time", 120, 111),
        word("Comments", 280, 111),
    ]
    header = match_header(group_lines(words), SPECS)
    assert header is not None
    assert [c.key for c in header.columns] == ["status", "module", "start", "exam_campus", "comments"]
    assert header.bottom == 121
    assert header.columns[3].x0 == 180


def test_header_tolerates_a_missing_optional_and_an_unknown_column() -> None:
    words = [word(t, x, 100) for t, x in (("Status", 10), ("Module", 60), ("Lecturer", 110), ("Start", 170))]
    words.append(word("Time", 170, 111))
    header = match_header(group_lines(words), SPECS)
    assert header is not None
    assert [c.key for c in header.columns] == ["status", "module", "extra2", "start"]


def test_no_header_without_required_labels() -> None:
    words = [word("Status", 10, 100), word("Start", 120, 100), word("Time", 120, 111)]
    assert match_header(group_lines(words), SPECS) is None


def test_data_line_below_header_is_not_taken_for_a_wrapped_label() -> None:
    words = [
        word("Status", 10, 100),
        word("Module", 60, 100),
        word("Start", 120, 100),
        word("Time", 120, 111),
    ]
    words += [word("FINAL", 10, 125), word("COS", 60, 125), word("07:30", 120, 125)]
    header = match_header(group_lines(words), SPECS)
    assert header is not None
    assert header.bottom == 121


def test_column_edge_sits_in_the_white_gap_even_when_data_starts_left_of_label() -> None:
    columns = [Column("a", 10, 40), Column("b", 120, 150)]
    data = [word("long-text-here", 10, 200), word("x", 100, 200)]  # "a" ends at 80; "b" data starts at 100
    (edge,) = column_bounds(columns, data, 10)
    assert 80 <= edge <= 100


def test_words_go_to_the_column_their_left_edge_is_in() -> None:
    columns = [Column("a", 10, 40), Column("b", 100, 130)]
    page = group_lines([word("left", 10, 200), word("right", 100, 200), word("more", 100, 211)])
    lines = cell_lines(1, page, columns, 10)
    assert [(ln.column, ln.text) for ln in lines] == [("a", "left"), ("b", "right"), ("b", "more")]


def anchor(line: CellLine) -> bool:
    return line.column == "module"


def test_rows_start_at_anchors_and_continue_over_a_page_break() -> None:
    page1 = [
        CellLine(1, "module", 100, 110, 10, "COS 214"),
        CellLine(1, "venue", 100, 110, 200, "Lab 1"),
        CellLine(1, "venue", 112, 122, 200, "Lab 2"),
        CellLine(1, "module", 130, 140, 10, "COS 226"),
        CellLine(1, "venue", 130, 140, 200, "Lab 3"),
    ]
    page2 = [CellLine(2, "venue", 40, 50, 200, "Lab 4"), CellLine(2, "module", 60, 70, 10, "STK 220")]
    rows: list[Row] = []
    assert assign_rows(page1, anchor, 10, rows) == []
    assert assign_rows(page2, anchor, 10, rows) == []
    assert [(r.text("module"), r.text("venue")) for r in rows] == [
        ("COS 214", "Lab 1 Lab 2"),
        ("COS 226", "Lab 3 Lab 4"),
        ("STK 220", ""),
    ]


def test_text_before_any_row_is_returned_as_orphans() -> None:
    lines = [CellLine(1, "venue", 40, 50, 200, "stray"), CellLine(1, "module", 60, 70, 10, "COS 214")]
    rows: list[Row] = []
    orphans = assign_rows(lines, anchor, 10, rows)
    assert [o.text for o in orphans] == ["stray"]
    assert len(rows) == 1


def test_table_ends_at_a_big_gap_with_no_row_after_it() -> None:
    lines = [
        CellLine(1, "module", 100, 110, 10, "COS 214"),
        CellLine(1, "venue", 112, 122, 200, "Lab 2"),
        CellLine(1, "module", 160, 170, 10, "COS 226"),  # a big gap, but a new row: still the table
        CellLine(1, "venue", 400, 410, 200, "Page 1 of 2"),
    ]
    assert table_end(lines, anchor, 10) == 3
