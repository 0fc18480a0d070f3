"""Table geometry, free of UP knowledge: words -> lines -> header columns -> cells -> rows."""

from __future__ import annotations

import bisect
import functools
import itertools
import re
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from schedgen.parsing.pdf import Word

LINE_GAP_FACTOR = 1.6  # header lines further apart than this many line heights are not one header
TABLE_END_GAP_FACTOR = 2.5  # text further below the table than this many line heights is not in it
TITLE_FACTOR = 1.5  # words this many times taller than the body text are titles, not cells
MAX_CELLS_PER_LABEL = 4  # a header label is at most this many words
MAX_HEADER_LINES = 3  # a header label wraps over at most this many lines
MAX_UNKNOWN_CELLS = 2  # header cells naming no known column that a match may carry (new columns)


class Line(NamedTuple):
    """Words sharing one baseline band, left to right."""

    words: tuple[Word, ...]
    top: float
    bottom: float
    x0: float
    text: str

    @classmethod
    def of(cls, words: Sequence[Word]) -> Line:
        """Build a line from its words (any order)."""
        if len(words) == 1:
            (word,) = words
            return cls((word,), word.top, word.bottom, word.x0, word.text)
        ordered = tuple(sorted(words, key=_left))
        return cls(
            ordered,
            min([w.top for w in ordered]),
            max([w.bottom for w in ordered]),
            ordered[0].x0,
            " ".join([w.text for w in ordered]),
        )


def _left(word: Word) -> float:
    return word.x0


def _centre_then_left(word: Word) -> tuple[float, float]:
    return (word.top + word.bottom, word.x0)


def group_lines(words: Iterable[Word]) -> list[Line]:
    """Group words into lines: a word joins a line when its vertical centre falls in the line's first word."""
    lines: list[Line] = []
    current: list[Word] = []
    band_top = band_bottom = 0.0
    for word in sorted(words, key=_centre_then_left):
        centre = (word.top + word.bottom) / 2
        if current and band_top <= centre <= band_bottom:
            current.append(word)
            continue
        if current:
            lines.append(Line.of(current))
        current, band_top, band_bottom = [word], word.top, word.bottom
    if current:
        lines.append(Line.of(current))
    return lines


def body_height(words: Sequence[Word]) -> float:
    """The typical height of body text on a page."""
    return statistics.median(w.height for w in words) if words else 10.0


def drop_titles(words: Sequence[Word], height: float) -> list[Word]:
    """Remove words printed much larger than the body text (page titles)."""
    limit = height * TITLE_FACTOR
    return [w for w in words if w.height <= limit]


# --- header -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """A column a table must (or may) have, with the header labels that name it."""

    key: str
    labels: tuple[str, ...]
    optional: bool = False


@dataclass(frozen=True, slots=True)
class Column:
    """A header column found on a page: its key and the horizontal extent of its label."""

    key: str
    x0: float
    x1: float


@dataclass(frozen=True, slots=True)
class Header:
    """A matched table header: its columns left to right and its vertical extent."""

    columns: tuple[Column, ...]
    top: float
    bottom: float


@functools.lru_cache(maxsize=4096)
def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


@functools.lru_cache(maxsize=16)
def _vocabulary(specs: tuple[ColumnSpec, ...]) -> frozenset[str]:
    return frozenset(word for spec in specs for label in spec.labels for word in _norm(label).split())


def _looks_like_header(line: Line, vocabulary: frozenset[str]) -> bool:
    """Most of a header line's words are label words (cheap test before the full match)."""
    hits = sum(1 for w in line.words if _norm(w.text) in vocabulary)
    return hits >= min(3, len(line.words)) and hits * 5 >= len(line.words) * 3


def _header_cells(lines: Sequence[Line]) -> list[list[Word]]:
    """Stack wrapped label words under the label word they overlap most; one cell per label."""
    cells: list[list[Word]] = []
    extents: list[tuple[float, float, float]] = []  # x0, x1, lowest top of each cell
    for line in lines:
        for word in line.words:
            best, best_overlap = -1, 0.0
            for index, (x0, x1, top) in enumerate(extents):
                overlap = min(word.x1, x1) - max(word.x0, x0)
                if overlap > best_overlap and top < word.top:
                    best, best_overlap = index, overlap
            if best < 0:
                cells.append([word])
                extents.append((word.x0, word.x1, word.top))
            else:
                cells[best].append(word)
                x0, x1, _ = extents[best]
                extents[best] = (min(x0, word.x0), max(x1, word.x1), word.top)
    order = sorted(range(len(cells)), key=lambda i: extents[i][0])
    return [cells[i] for i in order]


def _match_labels(specs: Sequence[ColumnSpec], texts: Sequence[str]) -> list[tuple[str, int, int]] | None:
    """Assign consecutive header cells to the specs in order, every required spec matched.

    A cell that names no known column becomes an extra column (its text is kept apart and ignored);
    the assignment with the fewest such cells wins, and more than MAX_UNKNOWN_CELLS means no match.
    An exact match (no extra column) is tried first, since it is the usual case and by far the cheapest.
    """
    norms = [
        [_norm(" ".join(texts[j:k])) for k in range(j + 1, min(j + MAX_CELLS_PER_LABEL, len(texts)) + 1)]
        for j in range(len(texts))
    ]
    wanted = [{_norm(label) for label in spec.labels} for spec in specs]

    def attempt(budget: int) -> list[tuple[str, int, int]] | None:
        memo: dict[tuple[int, int, int], tuple[tuple[str, int, int], ...] | None] = {}

        def solve(i: int, j: int, left: int) -> tuple[tuple[str, int, int], ...] | None:
            key = (i, j, left)
            if key in memo:
                return memo[key]
            found: tuple[tuple[str, int, int], ...] | None = None
            if i == len(specs):
                if len(texts) - j <= left:
                    found = tuple((f"extra{k}", k, k + 1) for k in range(j, len(texts)))
            else:
                for offset, text in enumerate(norms[j] if j < len(texts) else ()):
                    if text in wanted[i] and (rest := solve(i + 1, j + offset + 1, left)) is not None:
                        found = ((specs[i].key, j, j + offset + 1), *rest)
                        break
                if found is None and specs[i].optional:
                    found = solve(i + 1, j, left)
                if found is None and left > 0 and j < len(texts):
                    rest = solve(i, j + 1, left - 1)
                    found = None if rest is None else ((f"extra{j}", j, j + 1), *rest)
            memo[key] = found
            return found

        result = solve(0, 0, budget)
        return None if result is None else list(result)

    for budget in range(MAX_UNKNOWN_CELLS + 1):
        matched = attempt(budget)
        if matched is not None:
            return matched
    return None


def match_header(lines: Sequence[Line], specs: Sequence[ColumnSpec]) -> Header | None:
    """Find the first header the specs describe: a label line plus the wrapped label lines under it."""
    vocabulary = _vocabulary(tuple(specs))
    for start, line in enumerate(lines):
        if not _looks_like_header(line, vocabulary):
            continue
        block = [line]
        for nxt in lines[start + 1 : start + MAX_HEADER_LINES]:
            height = max(w.height for w in block[-1].words)
            close = nxt.top - block[-1].bottom <= height * LINE_GAP_FACTOR
            if not close or not all(_norm(w.text) in vocabulary for w in nxt.words):
                break
            block.append(nxt)
        for size in range(len(block), 0, -1):
            header = _header_from_block(block[:size], specs)
            if header is not None:
                return header
    return None


def _header_from_block(block: Sequence[Line], specs: Sequence[ColumnSpec]) -> Header | None:
    cells = _header_cells(block)
    texts = [" ".join(w.text for w in sorted(c, key=lambda w: (w.top, w.x0))) for c in cells]
    matched = _match_labels(specs, texts)
    if matched is None:
        return None
    columns = []
    for key, j, k in matched:
        words = [w for cell in cells[j:k] for w in cell]
        columns.append(Column(key, min(w.x0 for w in words), max(w.x1 for w in words)))
    return Header(tuple(columns), min(ln.top for ln in block), max(ln.bottom for ln in block))


# --- columns and rows -------------------------------------------------------------------------------------


def _uncovered(lo: float, hi: float, covered: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """The parts of [lo, hi] that no interval in `covered` (sorted, merged) touches."""
    gaps, cursor = [], lo
    for a, b in covered:
        if b <= cursor:
            continue
        if a >= hi:
            break
        if a > cursor:
            gaps.append((cursor, a))
        cursor = max(cursor, b)
    if cursor < hi:
        gaps.append((cursor, hi))
    return gaps


def _merged(intervals: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def column_bounds(columns: Sequence[Column], words: Sequence[Word], height: float) -> list[float]:
    """Left edge of every column after the first, placed in the widest white gap before its label."""
    covered = _merged((w.x0, w.x1) for w in words)
    slack = height * 0.6
    bounds: list[float] = []
    for prev, col in itertools.pairwise(columns):
        wanted = col.x0 - 1.0
        gaps = _uncovered(prev.x0, col.x0 + slack, covered)
        bound = wanted
        if gaps:
            # White space right of the label counts for nothing: there the new column's data may just be short.
            lo, hi = max(gaps, key=lambda g: min(g[1], col.x0) - g[0])
            bound = min(max(wanted, lo), hi - 0.01)
        if bounds and bound <= bounds[-1]:
            bound = bounds[-1] + 0.01
        bounds.append(bound)
    return bounds


class CellLine(NamedTuple):
    """One line of text inside one column of the table."""

    page: int
    column: str  # the column's key
    top: float
    bottom: float
    x0: float
    text: str


@dataclass(slots=True)
class Row:
    """A table row: lines per column, possibly continued over a page break."""

    page: int
    top: float
    cells: dict[str, list[CellLine]] = field(default_factory=dict)

    def lines(self, column: str) -> list[CellLine]:
        """The row's lines in one column, top to bottom (page by page)."""
        return self.cells.get(column, [])

    def text(self, column: str) -> str:
        """A column's lines joined by spaces (wrapped text)."""
        return " ".join(line.text for line in self.lines(column))

    def add(self, line: CellLine) -> None:
        """Put a line into its column."""
        self.cells.setdefault(line.column, []).append(line)


def cell_lines(page: int, lines: Sequence[Line], columns: Sequence[Column], height: float) -> list[CellLine]:
    """Cut a page's table lines into cells: consecutive words whose left edges fall in one column."""
    bounds = column_bounds(columns, [w for line in lines for w in line.words], height)
    out = []
    for line in lines:
        run: list[Word] = []
        index = -1
        for word in line.words:
            column = bisect.bisect_right(bounds, word.x0)
            if run and column != index:
                out.append(_cell(page, columns[index].key, run))
                run = []
            run.append(word)
            index = column
        out.append(_cell(page, columns[index].key, run))
    return out


def _cell(page: int, column: str, words: Sequence[Word]) -> CellLine:
    if len(words) == 1:
        word = words[0]
        return CellLine(page, column, word.top, word.bottom, word.x0, word.text)
    return CellLine(
        page,
        column,
        min([w.top for w in words]),
        max([w.bottom for w in words]),
        words[0].x0,
        " ".join([w.text for w in words]),
    )


def table_end(lines: Sequence[CellLine], is_anchor: Callable[[CellLine], bool], height: float) -> int:
    """Index of the first line below the table (a big vertical gap with no new row after it)."""
    lowest = None
    for index, line in enumerate(lines):
        gap = lowest is not None and line.top - lowest > height * TABLE_END_GAP_FACTOR
        if gap and not any(is_anchor(rest) for rest in lines[index:]):
            return index
        lowest = line.bottom if lowest is None else max(lowest, line.bottom)
    return len(lines)


def assign_rows(
    lines: Sequence[CellLine], is_anchor: Callable[[CellLine], bool], height: float, rows: list[Row]
) -> list[CellLine]:
    """Append a page's lines to rows: anchors start rows; lines above the first anchor continue the last row.

    Returns the lines that belong to no row (text above the first row of the first page).
    """
    tolerance = height * 0.5
    anchors = sorted((line for line in lines if is_anchor(line)), key=lambda a: a.top)
    page_rows = [Row(a.page, a.top) for a in anchors]
    tops = [a.top - tolerance for a in anchors]
    orphans: list[CellLine] = []
    for line in lines:
        index = bisect.bisect_right(tops, line.top) - 1
        if index >= 0:
            page_rows[index].add(line)
        elif rows:
            rows[-1].add(line)
        else:
            orphans.append(line)
    rows.extend(page_rows)
    return orphans
