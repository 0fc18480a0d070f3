"""Use case: turn chosen timetable events into one iCalendar file."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from schedgen.adapters.termdata import available_years, load_terms
from schedgen.domain.events import Event, Timetable
from schedgen.domain.selection import Selection, select_events
from schedgen.domain.terms import TermCalendar, unknown_terms
from schedgen.rendering.ics import CalendarOptions, render_calendar


def default_year(today: dt.date, years: Sequence[int]) -> int:
    """The term year that is current or next on `today`: this year's or the next bundled one; this year when
    the bundled years have run out (its dates are then unknown, never another year's)."""
    upcoming = [y for y in years if y >= today.year]
    return upcoming[0] if upcoming else today.year


def terms_for(year: int | None, today: dt.date, *, ask_if_unknown: bool = False) -> TermCalendar:
    """The bundled term calendar for a year (default: default_year's).

    A year without a bundled file is a calendar without dates (weekly classes then need their dates from
    the student) when it is the default or `ask_if_unknown` is set; a year given by name without a file
    raises UnknownTermYearError otherwise.
    """
    years = available_years()
    if year is None:
        year, ask_if_unknown = default_year(today, years), True
    if ask_if_unknown and year not in years:
        return unknown_terms(year)
    return load_terms(year)


def chosen_events(timetables: Iterable[Timetable], selection: Selection) -> tuple[Event, ...]:
    """All events of the given timetables that the selection keeps, in file order."""
    events = [event for timetable in timetables for event in timetable.events]
    return select_events(events, selection)


def build_calendar(events: Sequence[Event], terms: TermCalendar, options: CalendarOptions) -> bytes:
    """The .ics bytes for the chosen events (deterministic: same input, same bytes)."""
    return render_calendar(events, terms, options)
