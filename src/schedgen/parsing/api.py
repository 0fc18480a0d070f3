"""parse_pdf: PDF bytes in, a typed Timetable out (pure: no files, no network, no clocks)."""

from __future__ import annotations

from collections.abc import Sequence

from schedgen.domain.events import Event, ParseWarning, Timetable
from schedgen.errors import NotTimetableError
from schedgen.parsing.geometry import (
    CellLine,
    Header,
    Line,
    Row,
    assign_rows,
    body_height,
    cell_lines,
    drop_titles,
    group_lines,
    match_header,
    table_end,
)
from schedgen.parsing.limits import ParseLimits
from schedgen.parsing.pdf import read_words
from schedgen.parsing.up import LAYOUTS, Layout, RowError, is_module_line, merge_sessions, warning_for

DEFAULT_LIMITS = ParseLimits()


def detect_layout(pages: Sequence[Sequence[Line]]) -> tuple[Layout, int, Header]:
    """Find the kind of timetable from its header row (never from the file name)."""
    for index, lines in enumerate(pages):
        found = [(header, layout) for layout in LAYOUTS if (header := match_header(lines, layout.columns))]
        if found:
            header, layout = min(found, key=lambda pair: pair[0].top)  # the first header on the page
            return layout, index, header
    raise NotTimetableError()


def _text_warning(page: int, lines: Sequence[CellLine], what: str) -> ParseWarning:
    text = " ".join(ln.text for ln in lines)
    return ParseWarning(page=page, message=f"Ignored text {what}", text=text[:300])


def parse_pdf(data: bytes, limits: ParseLimits = DEFAULT_LIMITS) -> Timetable:
    """Read a UP Lectures, Semester Tests or Exams PDF into events; unreadable rows become warnings."""
    pages = read_words(data, limits)
    heights = [body_height(page.words) for page in pages]
    page_lines = [
        group_lines(drop_titles(page.words, height)) for page, height in zip(pages, heights, strict=True)
    ]
    layout, first, header = detect_layout(page_lines)
    rows: list[Row] = []
    warnings: list[ParseWarning] = []
    columns = header.columns
    for page, all_lines, height in zip(pages[first:], page_lines[first:], heights[first:], strict=True):
        found = header if page is pages[first] else match_header(all_lines, layout.columns)
        if found is not None:
            columns = found.columns
        # Below the header by vertical centre: a first row packed tight under the header still counts.
        table = (
            all_lines if found is None else [ln for ln in all_lines if ln.top + ln.bottom > 2 * found.bottom]
        )
        if not table:
            continue
        lines = cell_lines(page.number, table, columns, height)
        end = table_end(lines, is_module_line, height)
        if end < len(lines):
            warnings.append(_text_warning(page.number, lines[end:], "below the table"))
        orphans = assign_rows(lines[:end], is_module_line, height, rows)
        if orphans:
            warnings.append(_text_warning(page.number, orphans, "above the first row"))
    events: list[Event] = []
    for row in rows:
        problems: list[str] = []
        try:
            events.extend(layout.build(row, problems))
        except RowError as problem:
            problems.append(str(problem))
        warnings.extend(warning_for(row, problem) for problem in problems)
    if not events and warnings:
        raise NotTimetableError(
            "This PDF looks like a UP timetable, but none of its rows could be read. "
            "Download it again from the UP portal; if it still fails, tell us."
        )
    return Timetable(layout.kind, tuple(merge_sessions(events)), len(pages), tuple(warnings))
