"""UP term calendars (semesters, quarters, recess) and the dates a weekly class actually meets."""

from __future__ import annotations

import datetime as dt
import functools
import tomllib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from schedgen.errors import UnknownOfferingError

SEMESTERS = ("S1", "S2")
QUARTERS = ("Q1", "Q2", "Q3", "Q4")
YEAR = "Y"
OFFERINGS = (*SEMESTERS, YEAR, *QUARTERS)
# The semester each quarter lies in. A quarter's own dates must come from the term data or the user:
# falling back to the whole semester would put a Q1 module's classes into Q2 as well.
QUARTER_SEMESTER = {"Q1": "S1", "Q2": "S1", "Q3": "S2", "Q4": "S2"}
SECOND_HALF_FROM = (7, 1)  # (month, day) the second half of a year without known dates is taken to start
TERM_SCHEMA = 1  # the term TOML layout this module reads

Overrides = Mapping[str, tuple[dt.date, dt.date]]


@dataclass(frozen=True, slots=True)
class DateRange:
    """An inclusive range of calendar days, optionally named ("April recess")."""

    start: dt.date
    end: dt.date
    name: str = ""

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"date range ends ({self.end}) before it starts ({self.start})")

    def __contains__(self, day: object) -> bool:
        return isinstance(day, dt.date) and self.start <= day <= self.end


@dataclass(frozen=True, slots=True)
class TermCalendar:
    """One UP academic year: semesters, the quarters the data gives, and recess periods.

    A year whose dates nobody has given (``unknown_terms``) has no semesters: every weekly class then needs
    its dates from the student, never another year's.
    """

    year: int
    s1: DateRange | None
    s2: DateRange | None
    quarters: Mapping[str, DateRange]  # only the quarters the data file gives ("Q1".."Q4")
    recess: tuple[DateRange, ...] = ()
    version: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        if self.s1 is not None and self.s2 is not None and self.s2.start <= self.s1.end:
            raise ValueError("semester 2 must start after semester 1 ends")
        unknown = sorted(set(self.quarters) - set(QUARTERS))
        if unknown:
            raise ValueError(f"unknown quarter(s): {', '.join(unknown)}")

    @property
    def known(self) -> bool:
        """Whether UP's semester dates for the year are known (bundled or given)."""
        return self.s1 is not None and self.s2 is not None

    @property
    def second_half_from(self) -> tuple[int, int]:
        """(month, day) from which a date belongs to the second half of the year: S2's first day if known."""
        return (self.s2.start.month, self.s2.start.day) if self.s2 is not None else SECOND_HALF_FROM


def unknown_terms(year: int) -> TermCalendar:
    """A year with no known dates: no semesters, quarters or recess."""
    return TermCalendar(year=year, s1=None, s2=None, quarters={}, source=f"no UP term dates for {year}")


def normalise_offering(offered: str) -> str:
    """Canonical offering code: "s1 " -> "S1"."""
    return "".join(offered.split()).upper()


def _base_period(terms: TermCalendar, key: str, overrides: Mapping[str, DateRange]) -> DateRange | None:
    if key in overrides:
        return overrides[key]
    if key == "S1":
        return terms.s1
    if key == "S2":
        return terms.s2
    if key in QUARTER_SEMESTER:
        return terms.quarters.get(key)
    return None


def teaching_periods(
    terms: TermCalendar | None, offered: str, overrides: Overrides | None = None
) -> tuple[DateRange, ...]:
    """The periods in which a class offered in `offered` meets; Y is S1 then S2 (no classes in between)."""
    key = normalise_offering(offered)
    given = {normalise_offering(k): DateRange(start, end, k) for k, (start, end) in (overrides or {}).items()}
    if key in given:
        return (given[key],)
    if terms is not None:
        if key == YEAR:
            first = _base_period(terms, "S1", given)
            second = _base_period(terms, "S2", given)
            if first is not None and second is not None:
                return (first, second)
        else:
            period = _base_period(terms, key, given)
            if period is not None:
                return (period,)
    raise UnknownOfferingError(
        f"We have no dates for classes offered in {offered!r}. Give its dates yourself."
    )


def offering_range(
    terms: TermCalendar | None, offered: str, overrides: Overrides | None = None
) -> tuple[dt.date, dt.date]:
    """First and last day of an offering (Y spans S1 start to S2 end)."""
    periods = teaching_periods(terms, offered, overrides)
    return min(p.start for p in periods), max(p.end for p in periods)


def first_weekday_on_or_after(day: dt.date, weekday: int) -> dt.date:
    """The first date on or after `day` that falls on `weekday` (Monday = 0)."""
    return day + dt.timedelta(days=(weekday - day.weekday()) % 7)


def weekly_dates(start: dt.date, end: dt.date, weekday: int) -> tuple[dt.date, ...]:
    """Every date on `weekday` from `start` to `end` inclusive."""
    first = first_weekday_on_or_after(start, weekday)
    count = 0 if first > end else (end - first).days // 7 + 1
    return tuple(first + dt.timedelta(weeks=i) for i in range(count))


@functools.lru_cache(maxsize=32)
def _holidays_for_year(year: int) -> tuple[tuple[dt.date, str], ...]:
    import holidays  # loaded on first use: about 2 MiB that most requests never need

    found = holidays.country_holidays("ZA", years=year)
    return tuple(sorted((day, str(name)) for day, name in found.items()))


def public_holidays(years: Iterable[int]) -> dict[dt.date, str]:
    """South African public holidays (with Sunday holidays observed on Monday) for the given years."""
    out: dict[dt.date, str] = {}
    for year in sorted(set(years)):
        out.update(_holidays_for_year(year))
    return out


def excluded_dates(
    periods: Sequence[DateRange],
    weekday: int,
    *,
    holiday_dates: Collection[dt.date] = (),
    recess: Sequence[DateRange] = (),
) -> tuple[dt.date, ...]:
    """Dates on `weekday` in the periods' span with no class: holidays, recess, gaps between periods."""
    if not periods:
        return ()
    start = min(p.start for p in periods)
    end = max(p.end for p in periods)
    return tuple(
        day
        for day in weekly_dates(start, end, weekday)
        if day in holiday_dates or any(day in r for r in recess) or not any(day in p for p in periods)
    )


def class_dates(
    periods: Sequence[DateRange],
    weekday: int,
    *,
    holiday_dates: Collection[dt.date] = (),
    recess: Sequence[DateRange] = (),
) -> tuple[dt.date, ...]:
    """Dates on `weekday` within the periods on which the class really meets."""
    if not periods:
        return ()
    skip = set(excluded_dates(periods, weekday, holiday_dates=holiday_dates, recess=recess))
    start = min(p.start for p in periods)
    end = max(p.end for p in periods)
    return tuple(day for day in weekly_dates(start, end, weekday) if day not in skip)


def _as_date(value: object, where: str) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    raise ValueError(f"{where} must be a date like 2026-02-09, not {value!r}")


def _range(table: object, where: str) -> DateRange:
    if not isinstance(table, Mapping):
        raise ValueError(f"{where} must be a table with start and end dates")
    name = table.get("name", "")
    if not isinstance(name, str):
        raise ValueError(f"{where}.name must be text")
    start = _as_date(table.get("start"), f"{where}.start")
    return DateRange(start, _as_date(table.get("end"), f"{where}.end"), name)


def _table(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise ValueError(f"{key} must be a table")
    return value


def terms_from_toml(text: str) -> TermCalendar:
    """Parse term data TOML text (see data/terms/2026.toml); raises ValueError if it is malformed."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"term data is not valid TOML: {exc}") from exc
    if data.get("schema", TERM_SCHEMA) != TERM_SCHEMA:
        raise ValueError(f"term data schema {data.get('schema')!r} is not supported (expected {TERM_SCHEMA})")
    year = data.get("year")
    if not isinstance(year, int) or isinstance(year, bool):
        raise ValueError("term data needs an integer year")
    semesters = _table(data, "semesters")
    missing = [s for s in SEMESTERS if s not in semesters]
    if missing:
        raise ValueError(f"term data has no dates for {', '.join(missing)}")
    extra = sorted(set(semesters) - set(SEMESTERS))
    if extra:
        raise ValueError(f"unknown semester(s) in term data: {', '.join(extra)}")
    quarters = {key: _range(value, f"quarters.{key}") for key, value in _table(data, "quarters").items()}
    recess = data.get("recess", [])
    if not isinstance(recess, list):
        raise ValueError("recess must be a list of tables with start and end dates")
    return TermCalendar(
        year=year,
        s1=_range(semesters["S1"], "semesters.S1"),
        s2=_range(semesters["S2"], "semesters.S2"),
        quarters=quarters,
        recess=tuple(_range(item, f"recess[{i}]") for i, item in enumerate(recess)),
        version=str(data.get("version", "")),
        source=str(data.get("source", "")),
    )
