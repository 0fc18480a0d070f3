"""A plain-text table of a timetable's events, for people reading a terminal."""

from __future__ import annotations

from collections.abc import Sequence

from schedgen.domain.events import Kind, Timetable
from schedgen.rendering.contract import event_to_dict

COLUMNS: dict[Kind, tuple[tuple[str, str], ...]] = {
    Kind.LECTURES: (
        ("module", "Module"),
        ("offered", "Offered"),
        ("group", "Group"),
        ("activity", "Act"),
        ("day", "Day"),
        ("start", "Start"),
        ("end", "End"),
        ("venues", "Venues"),
        ("campus", "Campus"),
    ),
    Kind.TESTS: (
        ("module", "Module"),
        ("activity", "Test"),
        ("day", "Day"),
        ("date", "Date"),
        ("start", "Start"),
        ("end", "End"),
        ("venues", "Venues"),
        ("campus", "Campus"),
    ),
    Kind.EXAMS: (
        ("module", "Module"),
        ("status", "Status"),
        ("paper", "Paper"),
        ("date", "Date"),
        ("start", "Start"),
        ("venues", "Venue"),
        ("campus", "Campus"),
        ("comments", "Comments"),
    ),
}


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return str(value)


def _format(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    ]


def render_table(timetable: Timetable) -> str:
    """Render events as aligned columns under a one-line summary, warnings last."""
    columns = COLUMNS[timetable.kind]
    rows = [[title for _, title in columns]]
    rows += [[_cell(event_to_dict(e).get(key)) for key, _ in columns] for e in timetable.events]
    lines = [f"{timetable.kind.value}: {len(timetable.events)} events", *_format(rows)]
    lines += [f"warning (page {w.page}): {w.message}: {w.text}" for w in timetable.warnings]
    return "\n".join(lines) + "\n"
