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
    """The term year that is current or next on `today`: this year until the year's data runs out."""
    if not years:
        return today.year
    upcoming = [y for y in years if y >= today.year]
    return upcoming[0] if upcoming else years[-1]


def terms_for(year: int | None, today: dt.date, *, ask_if_unknown: bool = False) -> TermCalendar:
    """The bundled term calendar for a year (default: the current or next one).

    With no year given, once the bundled dates have run out (no file for this year or a later one), this
    year's calendar has no dates at all: weekly classes then need their dates from the student, never the
    last known year's. A year given that has no file raises UnknownTermYearError, or with `ask_if_unknown`
    is a calendar without dates too.
    """
    years = available_years()
    if year is None:
        year = default_year(today, years)
        if year < today.year:
            return unknown_terms(today.year)
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
