"""Use case: turn chosen timetable events into one iCalendar file."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from schedgen.adapters.termdata import available_years, load_terms
from schedgen.domain.events import Event, Timetable
from schedgen.domain.selection import Selection, select_events
from schedgen.domain.terms import TermCalendar
from schedgen.rendering.ics import CalendarOptions, render_calendar


def default_year(today: dt.date, years: Sequence[int]) -> int:
    """The term year that is current or next on `today`: this year until the year's data runs out."""
    if not years:
        return today.year
    upcoming = [y for y in years if y >= today.year]
    return upcoming[0] if upcoming else years[-1]


def terms_for(year: int | None, today: dt.date) -> TermCalendar:
    """The bundled term calendar for a year (default: the current or next one)."""
    return load_terms(year if year is not None else default_year(today, available_years()))


def chosen_events(timetables: Iterable[Timetable], selection: Selection) -> tuple[Event, ...]:
    """All events of the given timetables that the selection keeps, in file order."""
    events = [event for timetable in timetables for event in timetable.events]
    return select_events(events, selection)


def build_calendar(events: Sequence[Event], terms: TermCalendar, options: CalendarOptions) -> bytes:
    """The .ics bytes for the chosen events (deterministic: same input, same bytes)."""
    return render_calendar(events, terms, options)
