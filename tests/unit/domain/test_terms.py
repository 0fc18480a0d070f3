"""Tests for schedgen.domain.terms: term data, offering ranges, holidays and class dates."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schedgen.adapters.termdata import available_years, load_terms
from schedgen.domain.events import Weekday
from schedgen.domain.terms import (
    DateRange,
    TermCalendar,
    class_dates,
    excluded_dates,
    first_weekday_on_or_after,
    offering_range,
    public_holidays,
    teaching_periods,
    terms_from_toml,
    weekly_dates,
)
from schedgen.errors import UnknownOfferingError, UnknownTermYearError
from schedgen.services.calendars import terms_for

D = dt.date
S1_2026 = DateRange(D(2026, 2, 9), D(2026, 5, 22))
S2_2026 = DateRange(D(2026, 7, 13), D(2026, 10, 16))
TERMS = TermCalendar(year=2026, s1=S1_2026, s2=S2_2026, quarters={})

FULL_TOML = """
schema = 1
year = 2030
version = "2030.2"
source = "test data"
recess = [{ name = "April recess", start = 2030-04-01, end = 2030-04-05 }]

[semesters.S1]
start = 2030-02-04
end = 2030-05-31

[semesters.S2]
start = 2030-07-15
end = 2030-10-25

[quarters.Q3]
start = 2030-07-15
end = 2030-08-30
"""


def test_terms_from_toml_reads_every_field() -> None:
    terms = terms_from_toml(FULL_TOML)
    assert terms.year == 2030
    assert terms.s1 == DateRange(D(2030, 2, 4), D(2030, 5, 31))
    assert terms.s2 == DateRange(D(2030, 7, 15), D(2030, 10, 25))
    assert terms.quarters == {"Q3": DateRange(D(2030, 7, 15), D(2030, 8, 30))}
    assert terms.recess == (DateRange(D(2030, 4, 1), D(2030, 4, 5), "April recess"),)
    assert (terms.version, terms.source) == ("2030.2", "test data")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("year = ", "not valid TOML"),
        (FULL_TOML.replace("year = 2030", 'year = "2030"'), "integer year"),
        (FULL_TOML.replace("schema = 1", "schema = 2"), "schema"),
        (FULL_TOML.replace("[semesters.S2]", "[semesters.S3]"), "no dates for S2"),
        (FULL_TOML.replace("end = 2030-05-31", "end = 2030-01-31"), "ends"),
        (FULL_TOML.replace("start = 2030-02-04", 'start = "2030-02-04"'), "semesters.S1.start"),
        (FULL_TOML.replace("[quarters.Q3]", "[quarters.Q5]"), "Q5"),
        (FULL_TOML.replace("recess = [{", "recess = 3\nx = [{"), "recess"),
        (
            FULL_TOML.replace("[semesters.S2]\nstart = 2030-07-15", "[semesters.S2]\nstart = 2030-05-01"),
            "after",
        ),
    ],
)
def test_terms_from_toml_rejects_bad_data(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        terms_from_toml(text)


def test_bundled_2026_data_has_the_known_semester_dates_and_nothing_invented() -> None:
    terms = load_terms(2026)
    assert (terms.s1, terms.s2) == (S1_2026, S2_2026)
    assert terms.quarters == {}
    assert terms.recess == ()
    assert terms.version
    assert terms.source
    assert 2026 in available_years()


def test_missing_year_raises_typed_error() -> None:
    with pytest.raises(UnknownTermYearError) as info:
        load_terms(1999)
    assert info.value.code == "UNKNOWN_TERM_YEAR"
    assert "1999" in info.value.message


@pytest.mark.parametrize(
    ("offered", "expected"),
    [
        ("S1", (D(2026, 2, 9), D(2026, 5, 22))),
        ("S2", (D(2026, 7, 13), D(2026, 10, 16))),
        (" s1 ", (D(2026, 2, 9), D(2026, 5, 22))),
        ("Y", (D(2026, 2, 9), D(2026, 10, 16))),
    ],
)
def test_offering_range(offered: str, expected: tuple[dt.date, dt.date]) -> None:
    assert offering_range(TERMS, offered) == expected


@pytest.mark.parametrize("quarter", ["Q1", "Q2", "Q3", "Q4"])
def test_quarter_without_dates_is_not_guessed(quarter: str) -> None:
    with pytest.raises(UnknownOfferingError) as info:
        offering_range(TERMS, quarter)
    assert quarter in info.value.message


def test_quarter_dates_come_from_the_data() -> None:
    terms = terms_from_toml(FULL_TOML)
    assert offering_range(terms, "Q3") == (D(2030, 7, 15), D(2030, 8, 30))
    with pytest.raises(UnknownOfferingError):
        offering_range(terms, "Q4")


def test_year_offering_is_two_periods_with_the_break_between() -> None:
    assert teaching_periods(TERMS, "Y") == (S1_2026, S2_2026)


def test_overrides_replace_semesters_and_feed_fallbacks() -> None:
    overrides = {"s1": (D(2026, 3, 2), D(2026, 4, 30))}
    assert offering_range(TERMS, "S1", overrides) == (D(2026, 3, 2), D(2026, 4, 30))
    assert offering_range(TERMS, "Y", overrides) == (D(2026, 3, 2), D(2026, 10, 16))
    assert offering_range(None, "W1", {"W1": (D(2026, 6, 1), D(2026, 6, 30))}) == (
        D(2026, 6, 1),
        D(2026, 6, 30),
    )


@pytest.mark.parametrize(("terms", "offered"), [(TERMS, "A"), (TERMS, ""), (None, "S1")])
def test_unknown_offering_raises_with_code(terms: TermCalendar | None, offered: str) -> None:
    with pytest.raises(UnknownOfferingError) as info:
        offering_range(terms, offered)
    assert info.value.code == "UNKNOWN_OFFERING"


def test_weekly_dates_start_on_first_matching_weekday() -> None:
    mondays = weekly_dates(S1_2026.start, S1_2026.end, Weekday.MONDAY)
    assert mondays[0] == D(2026, 2, 9)
    assert mondays[-1] == D(2026, 5, 18)
    assert len(mondays) == 15
    fridays = weekly_dates(S1_2026.start, S1_2026.end, Weekday.FRIDAY)
    assert (fridays[0], fridays[-1]) == (D(2026, 2, 13), D(2026, 5, 22))
    assert weekly_dates(D(2026, 2, 10), D(2026, 2, 15), Weekday.MONDAY) == ()
    assert first_weekday_on_or_after(D(2026, 2, 10), Weekday.MONDAY) == D(2026, 2, 16)


def test_public_holidays_2026_include_easter_and_observed_sunday_holiday() -> None:
    found = public_holidays([2026])
    assert D(2026, 4, 3) in found  # Good Friday
    assert D(2026, 4, 6) in found  # Family Day (Easter Monday)
    assert D(2026, 4, 27) in found  # Freedom Day
    assert D(2026, 5, 1) in found  # Workers' Day
    assert D(2026, 8, 10) in found  # Women's Day (Sunday 9 Aug) observed on Monday
    assert D(2026, 4, 7) not in found
    assert all(day.year == 2026 for day in found)


def test_excluded_dates_per_weekday_in_s1_2026() -> None:
    found = public_holidays([2026])
    assert excluded_dates([S1_2026], Weekday.MONDAY, holiday_dates=found) == (D(2026, 4, 6), D(2026, 4, 27))
    assert excluded_dates([S1_2026], Weekday.FRIDAY, holiday_dates=found) == (D(2026, 4, 3), D(2026, 5, 1))
    assert excluded_dates([S1_2026], Weekday.WEDNESDAY, holiday_dates=found) == ()
    assert len(class_dates([S1_2026], Weekday.MONDAY, holiday_dates=found)) == 13


def test_recess_excludes_only_its_own_days() -> None:
    recess = [DateRange(D(2026, 3, 30), D(2026, 4, 3), "April recess")]
    assert excluded_dates([S1_2026], Weekday.TUESDAY, recess=recess) == (D(2026, 3, 31),)
    assert excluded_dates([S1_2026], Weekday.SATURDAY, recess=recess) == ()


def test_gap_between_year_periods_is_excluded() -> None:
    skipped = excluded_dates([S1_2026, S2_2026], Weekday.MONDAY)
    assert skipped[0] == D(2026, 5, 25)
    assert skipped[-1] == D(2026, 7, 6)
    assert len(skipped) == 7
    meets = class_dates([S1_2026, S2_2026], Weekday.MONDAY)
    assert not any(D(2026, 5, 22) < day < D(2026, 7, 13) for day in meets)


@st.composite
def _periods(draw: st.DrawFn) -> list[DateRange]:
    start = draw(st.dates(D(2020, 1, 1), D(2030, 12, 31)))
    periods = []
    for _ in range(draw(st.integers(1, 3))):
        end = start + dt.timedelta(days=draw(st.integers(0, 120)))
        periods.append(DateRange(start, end))
        start = end + dt.timedelta(days=draw(st.integers(1, 60)))
    return periods


@given(
    periods=_periods(),
    weekday=st.sampled_from(list(Weekday)),
    holidays=st.sets(st.dates(D(2020, 1, 1), D(2031, 12, 31)), max_size=20),
)
def test_class_and_excluded_dates_partition_the_weeks(
    periods: list[DateRange], weekday: Weekday, holidays: set[dt.date]
) -> None:
    weeks = weekly_dates(periods[0].start, periods[-1].end, weekday)
    meets = class_dates(periods, weekday, holiday_dates=holidays)
    skipped = excluded_dates(periods, weekday, holiday_dates=holidays)
    assert sorted(meets + skipped) == list(weeks)
    assert not set(meets) & set(skipped)
    for day in meets:
        assert day.weekday() == weekday
        assert day not in holidays
        assert any(day in p for p in periods)


def test_once_the_bundled_dates_run_out_no_other_years_dates_are_used() -> None:
    last = available_years()[-1]
    assert terms_for(None, D(last, 3, 1)) == load_terms(last)
    assert terms_for(None, D(last, 12, 31)) == load_terms(last)
    after = terms_for(None, D(last + 1, 1, 15))  # the next year has started; its dates are not bundled
    assert (after.year, after.known, after.s1, after.s2, after.recess) == (last + 1, False, None, None, ())
    with pytest.raises(UnknownOfferingError):
        teaching_periods(after, "S1")
    assert teaching_periods(after, "S1", {"S1": (D(last + 1, 2, 8), D(last + 1, 5, 21))})[0].start == D(
        last + 1, 2, 8
    )
    with pytest.raises(UnknownTermYearError):  # a year asked for by name must exist ...
        terms_for(last + 1, D(last, 3, 1))
    assert not terms_for(last + 1, D(last, 3, 1), ask_if_unknown=True).known  # ... unless we may ask
    assert terms_for(last, D(last + 5, 1, 1), ask_if_unknown=True) == load_terms(last)  # a year set stays
