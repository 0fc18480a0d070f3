"""Draws UP-layout timetable PDFs (Lectures, Semester Tests, Exams) with known content for parser tests."""

from __future__ import annotations

import datetime as dt
import io
import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import pikepdf
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from schedgen.domain.events import ExamSitting, LectureSession, TestSitting

A4_LANDSCAPE = (841.9, 595.3)  # the page size of every real UP timetable
REGULAR = "Helvetica"
BOLD = "Helvetica-Bold"
LEADING = 1.156  # body line pitch / font size (11.56 pt at 10 pt)
ASCENT = 0.937  # row top to the first body baseline / font size
HEADER_ASCENT = 0.971  # header row top to the first header baseline / header size
HEADER_LEADING = 1.19  # header line pitch / header size
RULE = 0.5  # grid line thickness
BLANK_SIZE = 0.8  # the near-empty Study Prog text is drawn this much smaller than body text
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
OWNER_PASSWORD = "schedgen-owner"  # owner password of the encrypted copies


class LayoutError(ValueError):
    """Raised when the content cannot be drawn with the requested geometry."""


@dataclass(frozen=True, slots=True)
class Column:
    """One table column as UP prints it, measured at the kind's base font size."""

    header: tuple[str, ...]  # header lines ("Start", "Time")
    width: float
    header_ratio: float = 1.0  # header size / the kind's header size (UP shrinks "Offered" to 8 pt)
    font_ratio: float = 1.0  # body size / the kind's body size (test modules are 10 pt among 11 pt)
    wrap: bool = False  # long text wraps at spaces; otherwise one paragraph is one line
    trailing_space: bool = False  # UP ends these cells' text with a space
    wrap_space: bool = True  # a wrapped line keeps the space it broke at ("Exam " / "Written")


@dataclass(frozen=True, slots=True)
class Sheet:
    """What one kind of timetable looks like: title, sizes and columns."""

    title: str
    body_size: float
    header_size: float
    columns: tuple[Column, ...]
    min_row_lines: float = 1.0  # a whole row is at least this many lines tall


LECTURES = Sheet(
    "Lectures",
    10.0,
    10.0,
    (
        Column(("Module",), 56.7),
        Column(("Offered",), 42.55, header_ratio=0.8),
        Column(("Group",), 42.5),
        Column(("Lang",), 35.45),
        Column(("Activity",), 49.6, header_ratio=0.9),
        Column(("Day",), 63.8),
        Column(("Time",), 70.9),
        Column(("Venue",), 155.9),
        Column(("Campus",), 100.0),  # real 85.05: widened so ONDERSTEPOORT fits
        Column(("Study Prog",), 91.35),  # real 106.3: gave 14.95 to Campus
    ),
    min_row_lines=1.8,  # the blank Study Prog text sits under the first line
)
TESTS = Sheet(
    "Semester Tests",
    11.0,
    11.0,
    (
        Column(("Module",), 56.7, font_ratio=10 / 11),
        Column(("Test",), 42.55, wrap=True, wrap_space=False),  # "PTest" / "1"
        Column(("Day",), 78.0),
        Column(("Date",), 78.0),
        Column(("Time",), 77.95),
        Column(("Campus",), 112.0),  # real 92.15: widened so ONDERSTEPOORT fits
        Column(("Venue",), 171.45, trailing_space=True),  # real 191.3: gave 19.85 to Campus
    ),
)
EXAMS = Sheet(
    "Exams",
    10.0,
    11.0,
    (
        Column(("Status",), 78.0, header_ratio=10 / 11),  # real 49.5: widened so PROVISIONAL fits
        Column(("Module",), 58.5, trailing_space=True),
        Column(("Paper",), 40.5, header_ratio=10 / 11),
        Column(("Activity",), 54.0, wrap=True),
        Column(("Date",), 76.5),
        Column(("Start", "Time"), 47.05),
        Column(("Module", "Campus"), 92.15),
        Column(("Exam Campus",), 100.0),  # real 92.15: widened so ONDERSTEPOORT fits
        Column(("Venue",), 127.55, wrap=True, trailing_space=True),
        Column(("Exam", "Comments"), 92.15, wrap=True),
    ),
    min_row_lines=3.278,  # real exam rows are 38.4 pt tall whatever they hold
)
SHEETS = {"lectures": LECTURES, "tests": TESTS, "exams": EXAMS}


@dataclass(frozen=True, slots=True)
class Layout:
    """Page geometry and drawing choices; the defaults reproduce the real UP files."""

    page_size: tuple[float, float] = A4_LANDSCAPE
    margin_left: float = 35.75  # x of the table's left rule
    margin_top: float = 36.5  # top edge to the table on pages after the first
    margin_bottom: float = 43.75  # no row goes below this y
    title_baseline: float = 55.42  # top edge to the title's baseline
    title_size: float = 20.0
    table_top: float = 73.87  # top edge to the header row on the first page
    font_size: float | None = None  # body size; None keeps the kind's own (10 pt, tests 11 pt)
    column_scale: float = 1.0  # multiplies every column width (after font scaling)
    column_widths: tuple[float, ...] | None = None  # explicit widths in points, overriding the above
    cell_padding: float = 5.65  # text inset from each side of a column
    row_padding: float = 0.5  # extra height under each row
    repeat_header: bool = False  # UP prints the header on the first page only
    rules: bool = True  # draw the table grid
    split_rows: bool = True  # a row that does not fit continues on the next page (as UP does)
    split_wrapped: bool = False  # may a page break fall inside wrapped text ("PTest" / "1")?
    study_prog_blank: bool = True  # lectures: the near-empty text UP puts in the Study Prog column
    small_text_rise: float = 0.0  # raise smaller body text (test modules) off the row's baseline
    compress: bool = True

    def widths(self, sheet: Sheet) -> tuple[float, ...]:
        """Column widths in points for this sheet."""
        if self.column_widths is not None:
            if len(self.column_widths) != len(sheet.columns):
                raise LayoutError(f"{sheet.title} has {len(sheet.columns)} columns")
            return self.column_widths
        factor = self.body_size(sheet) / sheet.body_size * self.column_scale
        return tuple(c.width * factor for c in sheet.columns)

    def body_size(self, sheet: Sheet) -> float:
        """Body font size in points for this sheet."""
        return sheet.body_size if self.font_size is None else self.font_size


@dataclass(frozen=True, slots=True)
class Row:
    """One table row before wrapping: per column, paragraphs (each one line unless the column wraps)."""

    cells: tuple[tuple[str, ...], ...]
    white: str = ""  # drawn in white after the first line of column white_col (the Lang cell's "L")
    white_col: int = 0
    blank_col: int | None = None  # column that gets the near-empty separator text


@dataclass(slots=True)
class _Block:
    """A row wrapped to the page: printed lines per column and where a page break may fall."""

    row: Row
    lines: list[list[str]] = field(default_factory=list)
    no_break: set[int] = field(default_factory=set)  # break before line i would split wrapped text

    @property
    def count(self) -> int:
        return max((len(c) for c in self.lines), default=0) or 1


def text_width(text: str, size: float, font: str = REGULAR) -> float:
    """Width in points of text in a standard font."""
    return float(stringWidth(text, font, size))


def wrap_words(text: str, size: float, width: float) -> list[str]:
    """Greedy word wrap at spaces; a word wider than the cell stays whole on its own line."""
    lines: list[str] = []
    for word in text.split(" "):
        if lines and text_width(f"{lines[-1]} {word}", size) <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines or [""]


def hhmm(value: dt.time) -> str:
    """A time as UP prints it ("07:30")."""
    return value.strftime("%H:%M")


def lecture_rows(sessions: Iterable[LectureSession]) -> list[Row]:
    """Group sessions into rows by (module, offered, group) in order; one line per venue."""
    groups: dict[tuple[str, str, str], list[LectureSession]] = {}
    for s in sessions:
        groups.setdefault((s.module, s.offered, s.group), []).append(s)
    rows = []
    for (module, offered, group), items in groups.items():
        lines = [(s, v) for s in items for v in (s.venues or ("",))]
        first = items[0]
        rows.append(
            Row(
                cells=(
                    (module,),
                    (offered,),
                    (group,),
                    (f"{first.language} ",),
                    tuple(s.activity for s, _ in lines),
                    tuple(s.day.label for s, _ in lines),
                    tuple(f"{hhmm(s.start)} - {hhmm(s.end)}" for s, _ in lines),
                    tuple(v for _, v in lines),
                    (first.campus,),
                    (),
                ),
                white=first.activity[:1],
                white_col=3,
                blank_col=9,
            )
        )
    return rows


def ddmonyyyy(value: dt.date, *, upper: bool = False) -> str:
    """A date as UP prints it: "23 Aug 2025" (tests) or "12 NOV 2025" (exams)."""
    text = f"{value.day:02d} {MONTHS[value.month - 1]} {value.year}"
    return text.upper() if upper else text


def test_rows(sittings: Iterable[TestSitting]) -> list[Row]:
    """One row per test sitting, one line per venue."""
    return [
        Row(
            cells=(
                (t.module,),
                (t.activity,),
                (t.day,),
                (ddmonyyyy(t.date),),
                (f"{hhmm(t.start)} - {hhmm(t.end)}",),
                (t.campus,),
                tuple(t.venues),
            )
        )
        for t in sittings
    ]


def exam_rows(sittings: Iterable[ExamSitting]) -> list[Row]:
    """One row per exam sitting; the venue and comments wrap."""
    return [
        Row(
            cells=(
                (e.status,),
                (e.module,),
                (e.paper,),
                (e.activity,),
                (ddmonyyyy(e.date, upper=True),),
                (hhmm(e.start),),
                (e.module_campus,),
                (e.campus,),
                (" ".join(e.venues),) if e.venues else (),
                (e.comments,) if e.comments else (),
            )
        )
        for e in sittings
    ]


class _Drawer:
    """Draws rows onto pages, breaking rows across pages like UP's report engine."""

    def __init__(self, sheet: Sheet, layout: Layout) -> None:
        self.sheet, self.layout = sheet, layout
        self.size = layout.body_size(sheet)
        self.leading = self.size * LEADING
        self.xs: list[float] = [layout.margin_left]
        for w in layout.widths(sheet):
            self.xs.append(self.xs[-1] + w)
        if self.xs[-1] > layout.page_size[0]:
            raise LayoutError(f"table is {self.xs[-1]:.1f} pt wide, page only {layout.page_size[0]:.1f}")
        self.buffer = io.BytesIO()
        self.canvas = Canvas(
            self.buffer, pagesize=layout.page_size, invariant=1, pageCompression=int(layout.compress)
        )
        self.canvas.setTitle(sheet.title)
        self.pages = 0
        self.y = 0.0
        self._row_drawn = False  # has the current page any row text yet?
        self.bounds: list[float] = []  # y of every horizontal rule on the current page

    def draw(self, rows: list[Row]) -> bytes:
        """Draw all rows and return the finished PDF."""
        self._start_page()
        for row in rows:
            self._place(self._block(row))
        self._finish_page()
        self.canvas.save()
        return self.buffer.getvalue()

    def _col_size(self, index: int) -> float:
        return self.size * self.sheet.columns[index].font_ratio

    def _block(self, row: Row) -> _Block:
        pad = self.layout.cell_padding
        block = _Block(row)
        for i, (col, paragraphs) in enumerate(zip(self.sheet.columns, row.cells, strict=True)):
            size, width = self._col_size(i), self.xs[i + 1] - self.xs[i]
            lines: list[str] = []
            for text in paragraphs:
                parts = wrap_words(text, size, width - 2 * pad) if col.wrap else [text]
                block.no_break.update(range(len(lines) + 1, len(lines) + len(parts)))
                for part in parts:
                    if text_width(part, size) > width - pad - RULE:
                        raise LayoutError(f"{part!r} does not fit in the {col.header[0]} column")
                lines += [p + " " * col.wrap_space for p in parts[:-1]]
                lines.append(parts[-1] + " " * col.trailing_space)
            block.lines.append(lines)
        return block

    def _height(self, count: int, whole: bool) -> float:
        lines = max(count, self.sheet.min_row_lines) if whole else count
        return lines * self.leading + self.layout.row_padding

    def _place(self, block: _Block) -> None:
        start = 0
        while start < block.count:
            room = self.y - self.layout.margin_bottom
            rest = block.count - start
            if self._height(rest, start == 0) <= room:
                self._draw_lines(block, start, block.count, whole=start == 0)
                return
            fits = min(rest - 1, math.floor((room - self.layout.row_padding) / self.leading))
            stop = self._break_before(block, start, start + fits)
            if stop > start:
                self._draw_lines(block, start, stop, whole=False)
                start = stop
            elif not self._row_drawn:
                raise LayoutError("the page is too small for one line of a row")
            self._finish_page()
            self._start_page()

    def _break_before(self, block: _Block, start: int, limit: int) -> int:
        """The last line index <= limit before which the page may break (start if none)."""
        page_empty = not self._row_drawn
        if not self.layout.split_rows and not page_empty:
            return start
        for stop in range(limit, start, -1):
            if self.layout.split_wrapped or page_empty or stop not in block.no_break:
                return stop
        return start

    def _page_top(self) -> float:
        return self.layout.page_size[1] - (
            self.layout.table_top if self.pages == 1 else self.layout.margin_top
        )

    def _start_page(self) -> None:
        self.pages += 1
        top = self._page_top()
        if self.pages == 1:
            self.canvas.setFont(BOLD, self.layout.title_size)
            height = self.layout.page_size[1]
            self.canvas.drawString(
                self.layout.margin_left + 0.25, height - self.layout.title_baseline, self.sheet.title
            )
        self.bounds = [top]
        self._row_drawn = False
        self.y = self._draw_header(top) if self.pages == 1 or self.layout.repeat_header else top
        if self.y != top:
            self.bounds.append(self.y)

    def _draw_header(self, top: float) -> float:
        base = self.size / self.sheet.body_size * self.sheet.header_size
        for i, col in enumerate(self.sheet.columns):
            size = base * col.header_ratio
            self.canvas.setFont(BOLD, size)
            for n, text in enumerate(col.header):
                y = top - HEADER_ASCENT * size - n * HEADER_LEADING * base
                spaced = text if n == len(col.header) - 1 else text + " "  # UP keeps the wrap's space
                self.canvas.drawString(self.xs[i] + self.layout.cell_padding, y, spaced)
        lines = max(len(c.header) for c in self.sheet.columns)
        return top - lines * HEADER_LEADING * base - self.layout.row_padding

    def _draw_lines(self, block: _Block, start: int, stop: int, *, whole: bool) -> None:
        top, canvas, pad = self.y, self.canvas, self.layout.cell_padding
        baseline = top - ASCENT * self.size
        for i, lines in enumerate(block.lines):
            size, x = self._col_size(i), self.xs[i] + pad
            rise = self.layout.small_text_rise if size < self.size else 0.0
            for n in range(start, min(stop, len(lines))):
                y = baseline - (n - start) * self.leading
                canvas.setFont(REGULAR, size)
                canvas.drawString(x, y + rise, lines[n])
                if size < self.size and not rise:  # UP follows small text with a body-size space
                    canvas.setFont(REGULAR, self.size)
                    canvas.drawString(x + text_width(lines[n], size), y, " ")
        row = block.row
        if start == 0 and row.white:
            first = block.lines[row.white_col][0] if block.lines[row.white_col] else ""
            canvas.setFillColorRGB(1, 1, 1)
            canvas.drawString(
                self.xs[row.white_col] + pad + text_width(first, self.size), baseline, row.white
            )
            canvas.setFillColorRGB(0, 0, 0)
        if whole and row.blank_col is not None and self.layout.study_prog_blank:
            x, y = self.xs[row.blank_col] + pad, baseline - BLANK_SIZE * self.leading
            canvas.setFont(REGULAR, self.size * BLANK_SIZE)
            canvas.drawString(x, y, " ")
            canvas.setFont(REGULAR, self.size)
            canvas.drawString(x + text_width(" ", self.size * BLANK_SIZE), y, "  ")
        self.y -= self._height(stop - start, whole)
        self.bounds.append(self.y)
        self._row_drawn = True

    def _finish_page(self) -> None:
        if self.layout.rules and len(self.bounds) > 1:
            top, bottom = self.bounds[0], self.bounds[-1]
            left, right = self.xs[0], self.xs[-1]
            for x in self.xs:
                self.canvas.rect(x, bottom, RULE, top - bottom, stroke=0, fill=1)
            for y in self.bounds:
                self.canvas.rect(left, y, right - left, RULE, stroke=0, fill=1)
        self.canvas.showPage()


def _layout(layout: Layout | None, overrides: dict[str, Any]) -> Layout:
    return replace(layout or Layout(), **overrides)


def draw_rows(sheet: Sheet, rows: list[Row], layout: Layout | None = None, **overrides: Any) -> bytes:
    """Draw prepared rows as a timetable of the given sheet (for hand-made edge cases)."""
    return _Drawer(sheet, _layout(layout, overrides)).draw(rows)


def draw_lectures(
    sessions: Iterable[LectureSession], layout: Layout | None = None, **overrides: Any
) -> bytes:
    """A "Lectures" PDF: rows by (module, offered, group), one printed line per venue of each session."""
    return draw_rows(LECTURES, lecture_rows(sessions), layout, **overrides)


def draw_tests(sittings: Iterable[TestSitting], layout: Layout | None = None, **overrides: Any) -> bytes:
    """A "Semester Tests" PDF: one row per sitting, one line per venue."""
    return draw_rows(TESTS, test_rows(sittings), layout, **overrides)


def draw_exams(sittings: Iterable[ExamSitting], layout: Layout | None = None, **overrides: Any) -> bytes:
    """An "Exams" PDF: one row per sitting; activity, venue and comments wrap in their cells."""
    return draw_rows(EXAMS, exam_rows(sittings), layout, **overrides)


def encrypt_with_password(pdf: bytes, password: str, *, aes256: bool = True) -> bytes:
    """Re-save a PDF encrypted with the given user password (AES-256, or AES-128 like the real exam file)."""
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        out = io.BytesIO()
        doc.save(
            out, encryption=pikepdf.Encryption(user=password, owner=OWNER_PASSWORD, R=6 if aes256 else 4)
        )
    return out.getvalue()


def encrypt_empty_password(pdf: bytes, *, aes256: bool = True) -> bytes:
    """Encrypt with an empty user password and a non-empty owner password, as UP's exam PDF is."""
    return encrypt_with_password(pdf, "", aes256=aes256)


def count_pages(pdf: bytes) -> int:
    """Number of pages in an (unencrypted or empty-password) PDF."""
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        return len(doc.pages)
