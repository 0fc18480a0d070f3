"""Tests for schedgen.rendering.ics: RFC 5545 output, recurrence, exclusions and byte stability."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import recurring_ical_events
from hypothesis import given, settings
from hypothesis import strategies as st
from icalendar import Calendar

from schedgen.domain.events import Event, ExamSitting, LectureSession, TestSitting, Weekday
from schedgen.domain.terms import DateRange, TermCalendar, class_dates, public_holidays
from schedgen.errors import UnknownOfferingError
from schedgen.rendering.ics import (
    DEFAULT_GENERATED_AT,
    PRODID,
    CalendarOptions,
    calendar_uid,
    render_calendar,
    unresolved_offerings,
)

D = dt.date
SAST = ZoneInfo("Africa/Johannesburg")
S1 = DateRange(D(2026, 2, 9), D(2026, 5, 22))
S2 = DateRange(D(2026, 7, 13), D(2026, 10, 16))
TERMS = TermCalendar(year=2026, s1=S1, s2=S2, quarters={})
WHOLE_YEAR = (D(2026, 1, 1), D(2027, 1, 1))


def lecture(**changes: Any) -> LectureSession:
    """COS 214 L1 on Mondays 08:30-09:20 in S1, with any field changed."""
    base = LectureSession(
        module="COS 214",
        offered="S1",
        group="G01",
        language="E",
        activity="L1",
        day=Weekday.MONDAY,
        start=dt.time(8, 30),
        end=dt.time(9, 20),
        venues=("Centenary 6",),
        campus="HATFIELD",
    )
    return dataclasses.replace(base, **changes)


def sitting(**changes: Any) -> TestSitting:
    """COS 284 Test1 on Saturday 2026-08-22 09:00-10:30, with any field changed."""
    base = TestSitting(
        module="COS 284",
        activity="Test1",
        day="Saturday",
        date=D(2026, 8, 22),
        start=dt.time(9, 0),
        end=dt.time(10, 30),
        venues=("IT 4-1", "IT 4-4"),
        campus="HATFIELD",
    )
    return dataclasses.replace(base, **changes)


def exam(**changes: Any) -> ExamSitting:
    """COS 284 paper 1 on 2026-11-12 at 07:30 with no printed end, with any field changed."""
    base = ExamSitting(
        module="COS 284",
        activity="Exam Written",
        status="FINAL",
        paper="1",
        date=D(2026, 11, 12),
        start=dt.time(7, 30),
        venues=("IT Building CBT Labs 1,2,3",),
        campus="HATFIELD",
        module_campus="HATF",
    )
    return dataclasses.replace(base, **changes)


def parse(events: Sequence[Event], options: CalendarOptions | None = None) -> Calendar:
    """Render and parse back."""
    return Calendar.from_ical(render_calendar(events, TERMS, options or CalendarOptions()))


def starts(calendar: Calendar) -> list[dt.datetime]:
    """Start of every occurrence in 2026, expanded by recurring_ical_events."""
    found = recurring_ical_events.of(calendar).between(*WHOLE_YEAR)
    return sorted(occurrence.start for occurrence in found)


def only_event(calendar: Calendar) -> Any:
    """The calendar's single VEVENT."""
    (vevent,) = calendar.events
    return vevent


def test_calendar_headers_and_timezone() -> None:
    calendar = parse([lecture()], CalendarOptions(calendar_name="Sem 1"))
    assert str(calendar["PRODID"]) == PRODID
    assert str(calendar["VERSION"]) == "2.0"
    assert str(calendar["CALSCALE"]) == "GREGORIAN"
    assert str(calendar["METHOD"]) == "PUBLISH"
    assert str(calendar["X-WR-CALNAME"]) == "Sem 1"
    assert str(calendar["X-WR-TIMEZONE"]) == "Africa/Johannesburg"
    assert str(calendar["UID"]) == str(calendar["X-WR-RELCALID"]) == calendar_uid("Sem 1")
    assert calendar_uid("Sem 1") != calendar_uid("Sem 2")
    assert [tz.tz_name for tz in calendar.timezones] == ["Africa/Johannesburg"]
    assert calendar.get_missing_tzids() == set()


def test_monday_lecture_in_s1_2026_skips_family_day_and_freedom_day() -> None:
    found = starts(parse([lecture()]))
    assert len(found) == 13
    assert found[0] == dt.datetime(2026, 2, 9, 8, 30, tzinfo=SAST)
    assert found[-1] == dt.datetime(2026, 5, 18, 8, 30, tzinfo=SAST)
    days = {s.date() for s in found}
    assert D(2026, 4, 6) not in days  # Family Day (Easter Monday)
    assert D(2026, 4, 27) not in days  # Freedom Day
    assert all(s.weekday() == 0 and s.utcoffset() == dt.timedelta(hours=2) for s in found)
    assert all(s.time() == dt.time(8, 30) for s in found)


def test_occurrences_keep_the_session_length() -> None:
    occurrences = recurring_ical_events.of(parse([lecture()])).between(*WHOLE_YEAR)
    assert {o.end - o.start for o in occurrences} == {dt.timedelta(minutes=50)}


def test_holidays_on_other_weekdays_are_not_excluded() -> None:
    wednesdays = starts(parse([lecture(day=Weekday.WEDNESDAY)]))
    assert len(wednesdays) == 15
    fridays = {s.date() for s in starts(parse([lecture(day=Weekday.FRIDAY)]))}
    assert len(fridays) == 13
    assert D(2026, 4, 3) not in fridays  # Good Friday
    assert D(2026, 5, 1) not in fridays  # Workers' Day


def test_holidays_kept_when_skip_holidays_is_off() -> None:
    found = starts(parse([lecture()], CalendarOptions(skip_holidays=False)))
    assert len(found) == 15
    vevent = only_event(parse([lecture()], CalendarOptions(skip_holidays=False)))
    assert "EXDATE" not in vevent


def test_rrule_until_is_utc_end_of_offering_and_exdates_use_the_tzid() -> None:
    vevent = only_event(parse([lecture()]))
    assert vevent["DTSTART"].params["TZID"] == "Africa/Johannesburg"
    (until,) = vevent["RRULE"]["UNTIL"]
    assert until == dt.datetime(2026, 5, 22, 21, 59, 59, tzinfo=dt.UTC)
    assert until.utcoffset() == dt.timedelta(0)
    assert vevent["RRULE"]["FREQ"] == ["WEEKLY"]
    assert vevent["EXDATE"].params["TZID"] == "Africa/Johannesburg"
    assert [d.dt for d in vevent["EXDATE"].dts] == [
        dt.datetime(2026, 4, 6, 8, 30, tzinfo=SAST),
        dt.datetime(2026, 4, 27, 8, 30, tzinfo=SAST),
    ]


def test_recess_from_terms_and_options_is_excluded() -> None:
    terms = dataclasses.replace(TERMS, recess=(DateRange(D(2026, 3, 30), D(2026, 4, 3)),))
    options = CalendarOptions(recess=(DateRange(D(2026, 3, 9), D(2026, 3, 9)),))
    calendar = Calendar.from_ical(render_calendar([lecture()], terms, options))
    days = {s.date() for s in starts(calendar)}
    assert D(2026, 3, 30) not in days
    assert D(2026, 3, 9) not in days
    assert len(days) == 11


def test_year_module_has_no_classes_between_semesters() -> None:
    found = starts(parse([lecture(offered="Y")]))
    assert not any(D(2026, 5, 22) < s.date() < D(2026, 7, 13) for s in found)
    assert found[0].date() == D(2026, 2, 9)
    assert found[-1].date() == D(2026, 10, 12)
    assert D(2026, 8, 10) not in {s.date() for s in found}  # Women's Day observed
    assert len(found) == 13 + 13


def test_quarter_without_dates_needs_dates_from_the_user() -> None:
    with pytest.raises(UnknownOfferingError):
        parse([lecture(offered="Q2")])
    options = CalendarOptions(semester_overrides={"Q2": (D(2026, 4, 6), D(2026, 5, 22))})
    assert starts(parse([lecture(offered="Q2")], options))[0].date() == D(2026, 4, 13)


def test_semester_override_and_excluded_first_day_moves_dtstart() -> None:
    options = CalendarOptions(semester_overrides={"S1": (D(2026, 4, 6), D(2026, 4, 30))})
    vevent = only_event(parse([lecture()], options))
    assert vevent.start == dt.datetime(2026, 4, 13, 8, 30, tzinfo=SAST)
    assert [s.date() for s in starts(parse([lecture()], options))] == [D(2026, 4, 13), D(2026, 4, 20)]


def test_unknown_offering_is_reported_and_raised() -> None:
    events = [lecture(offered="A"), lecture(offered="S1"), lecture(offered="W2")]
    assert unresolved_offerings(events, TERMS, CalendarOptions()) == ("A", "W2")
    with pytest.raises(UnknownOfferingError) as info:
        render_calendar(events, TERMS, CalendarOptions())
    assert info.value.code == "UNKNOWN_OFFERING"
    assert "A, W2" in info.value.message
    fixed = CalendarOptions(
        semester_overrides={"A": (D(2026, 3, 2), D(2026, 3, 9)), "w2": (S2.start, S2.end)}
    )
    assert len(Calendar.from_ical(render_calendar(events, TERMS, fixed)).events) == 3


def test_tests_and_exams_need_no_term_data() -> None:
    calendar = Calendar.from_ical(render_calendar([sitting(), exam()], None))
    assert len(calendar.events) == 2
    assert all("RRULE" not in e for e in calendar.events)


def test_test_sitting_is_a_single_timed_event() -> None:
    vevent = only_event(parse([sitting()]))
    assert str(vevent["SUMMARY"]) == "COS 284 Test1"
    assert vevent.start == dt.datetime(2026, 8, 22, 9, 0, tzinfo=SAST)
    assert vevent.end == dt.datetime(2026, 8, 22, 10, 30, tzinfo=SAST)
    assert str(vevent["LOCATION"]) == "IT 4-1, IT 4-4, HATFIELD"
    assert starts(parse([sitting()])) == [vevent.start]


def test_exam_end_defaults_to_three_hours_and_can_be_overridden() -> None:
    default = only_event(parse([exam()]))
    assert str(default["SUMMARY"]) == "COS 284 Exam"
    assert default.end - default.start == dt.timedelta(hours=3)
    assert "End time assumed" in str(default["DESCRIPTION"])
    assert str(default["STATUS"]) == "CONFIRMED"
    two_hours = dt.timedelta(hours=2)
    override = CalendarOptions(
        exam_duration=two_hours, exam_duration_overrides={"cos 284": dt.timedelta(minutes=150)}
    )
    assert only_event(parse([exam()], override)).end == dt.datetime(2026, 11, 12, 10, 0, tzinfo=SAST)
    other = CalendarOptions(
        exam_duration=two_hours, exam_duration_overrides={"COS 110": dt.timedelta(hours=1)}
    )
    assert only_event(parse([exam()], other)).end == dt.datetime(2026, 11, 12, 9, 30, tzinfo=SAST)
    printed = exam(end=dt.time(8, 0))
    assert only_event(parse([printed], override)).end == dt.datetime(2026, 11, 12, 10, 0, tzinfo=SAST)


def test_printed_exam_end_is_used_and_provisional_exam_is_tentative() -> None:
    vevent = only_event(parse([exam(end=dt.time(9, 0), status="PROVISIONAL", paper="2")]))
    assert vevent.end == dt.datetime(2026, 11, 12, 9, 0, tzinfo=SAST)
    assert str(vevent["SUMMARY"]) == "COS 284 Exam (paper 2)"
    assert str(vevent["STATUS"]) == "TENTATIVE"
    description = str(vevent["DESCRIPTION"])
    assert "Status: provisional" in description
    assert "Paper: 2" in description
    assert "End time assumed" not in description


def test_lecture_summary_location_and_description() -> None:
    vevent = only_event(parse([lecture(venues=("Centenary 6", "Thuto 1-1"))]))
    assert str(vevent["SUMMARY"]) == "COS 214 L1"
    assert str(vevent["LOCATION"]) == "Centenary 6, Thuto 1-1, HATFIELD"
    description = str(vevent["DESCRIPTION"])
    assert "Group: G01" in description
    assert "Activity: L1 (lecture)" in description
    assert "Offered: S1 (classes 2026-02-09 to 2026-05-18)" in description
    assert "Venues: Centenary 6, Thuto 1-1" in description


def test_same_input_gives_byte_identical_output_whatever_the_event_order() -> None:
    events: list[Event] = [lecture(), lecture(day=Weekday.THURSDAY, activity="L2"), sitting(), exam()]
    options = CalendarOptions(reminder_minutes=10, colours={"COS 284": "Basil"})
    first = render_calendar(events, TERMS, options)
    assert render_calendar(events, TERMS, options) == first
    assert render_calendar(list(reversed(events)), TERMS, options) == first
    assert b"DTSTAMP:20260101T000000Z" in first


def test_events_are_sorted_by_start() -> None:
    calendar = parse([exam(), sitting(), lecture(offered="S2"), lecture()])
    assert [str(e["SUMMARY"]) for e in calendar.events] == [
        "COS 214 L1",
        "COS 214 L1",
        "COS 284 Test1",
        "COS 284 Exam",
    ]
    assert calendar.events[0].start < calendar.events[1].start


def _uids(events: Sequence[Event]) -> dict[str, str]:
    return {str(e["SUMMARY"]) + e.start.isoformat(): str(e["UID"]) for e in parse(events).events}


def test_uids_are_stable_when_unrelated_events_change() -> None:
    base = _uids([lecture(), exam()])
    assert all(uid.endswith("@schedgen") for uid in base.values())
    assert len(set(base.values())) == 2
    grown = _uids([lecture(), exam(), sitting(), lecture(module="WTW 114")])
    assert base.items() <= grown.items()
    assert _uids([exam()]).items() <= base.items()


def test_uid_survives_venue_change_and_exam_reschedule_but_not_group_change() -> None:
    (lecture_uid,) = _uids([lecture()]).values()
    assert list(_uids([lecture(venues=("Thuto 1-1",))]).values()) == [lecture_uid]
    assert list(_uids([lecture(group="G02")]).values()) != [lecture_uid]
    (exam_uid,) = _uids([exam()]).values()
    assert list(_uids([exam(date=D(2026, 11, 20), venues=("Sports Hall",))]).values()) == [exam_uid]


def test_events_sharing_an_identity_get_distinct_uids_and_duplicates_collapse() -> None:
    calendar = parse([sitting(), sitting(date=D(2026, 9, 5)), sitting()])
    assert len(calendar.events) == 2
    assert len({str(e["UID"]) for e in calendar.events}) == 2
    twins = [sitting(venues=("IT 4-1",)), sitting(venues=("IT 4-4",))]
    assert render_calendar(twins, None) == render_calendar(twins[::-1], None)


def test_reminder_adds_a_display_alarm() -> None:
    assert not only_event(parse([lecture()])).subcomponents
    (alarm,) = only_event(parse([lecture()], CalendarOptions(reminder_minutes=15))).subcomponents
    assert alarm.name == "VALARM"
    assert str(alarm["ACTION"]) == "DISPLAY"
    assert str(alarm["DESCRIPTION"]) == "COS 214 L1"
    assert alarm["TRIGGER"].dt == -dt.timedelta(minutes=15)


def test_colour_properties() -> None:
    vevent = only_event(parse([lecture()]))
    assert str(vevent["COLOR"]) == "mediumseagreen"  # COS 214's pinned default, Sage
    assert str(vevent["X-SCHEDGEN-GOOGLE-COLOR-ID"]) == "2"
    chosen = parse([lecture()], CalendarOptions(colours={"cos214": "Tomato"}, calendar_colour="9"))
    vevent = only_event(chosen)
    assert (str(vevent["COLOR"]), str(vevent["X-SCHEDGEN-GOOGLE-COLOR-ID"])) == ("red", "11")
    assert str(chosen["X-APPLE-CALENDAR-COLOR"]) == "#3F51B5"
    assert str(chosen["COLOR"]) == "darkslateblue"
    assert "X-APPLE-CALENDAR-COLOR" not in parse([lecture()])


def test_dtstamp_comes_from_options() -> None:
    stamp = dt.datetime(2026, 3, 1, 12, 0, tzinfo=SAST)
    assert only_event(parse([exam()], CalendarOptions(generated_at=stamp)))["DTSTAMP"].dt == stamp.astimezone(
        dt.UTC
    )
    assert only_event(parse([exam()]))["DTSTAMP"].dt == DEFAULT_GENERATED_AT


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"reminder_minutes": -1}, "negative"),
        ({"exam_duration": dt.timedelta(0)}, "positive"),
        ({"exam_duration_overrides": {"COS 284": dt.timedelta(minutes=-5)}}, "positive"),
        ({"colours": {"COS 284": "chartreuse"}}, "chartreuse"),
        ({"calendar_colour": "12"}, "12"),
        ({"generated_at": dt.datetime(2026, 1, 1)}, "timezone-aware"),
    ],
)
def test_bad_options_are_rejected(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CalendarOptions(**changes)


def test_term_year_must_match_options_year() -> None:
    with pytest.raises(ValueError, match="2027"):
        render_calendar([lecture()], TERMS, CalendarOptions(year=2027))


_times = st.times(dt.time(6, 0), dt.time(20, 0)).map(lambda t: t.replace(second=0, microsecond=0))


@st.composite
def _lectures(draw: st.DrawFn) -> LectureSession:
    start = draw(_times)
    minutes = draw(st.integers(30, 180))
    end = (dt.datetime.combine(D(2026, 1, 1), start) + dt.timedelta(minutes=minutes)).time()
    return lecture(
        module=draw(st.sampled_from(["COS 214", "COS 284", "WTW 114"])),
        offered=draw(st.sampled_from(["S1", "S2", "Y"])),
        group=draw(st.sampled_from(["G01", "G02", "P01"])),
        activity=draw(st.sampled_from(["L1", "L2", "P1", "T1"])),
        day=draw(st.sampled_from(list(Weekday))),
        start=start,
        end=end if end > start else dt.time(23, 0),
    )


@settings(max_examples=40, deadline=None)
@given(sessions=st.lists(_lectures(), min_size=1, max_size=5, unique=True))
def test_rendered_lectures_expand_to_the_class_dates(sessions: list[LectureSession]) -> None:
    calendar = parse(sessions)
    holidays = public_holidays([2026])
    expected = []
    for s in sessions:
        periods = (S1, S2) if s.offered == "Y" else ((S1,) if s.offered == "S1" else (S2,))
        expected += [
            dt.datetime.combine(d, s.start, SAST) for d in class_dates(periods, s.day, holiday_dates=holidays)
        ]
    assert starts(calendar) == sorted(expected)


@settings(max_examples=40, deadline=None)
@given(
    dates=st.lists(st.dates(D(2026, 1, 1), D(2026, 12, 31)), min_size=1, max_size=6),
    start=_times,
)
def test_rendered_tests_and_exams_keep_their_dates_and_times(dates: list[dt.date], start: dt.time) -> None:
    events: list[Event] = []
    for i, day in enumerate(dates):
        events.append(sitting(activity=f"Test{i}", date=day, start=start, end=dt.time(23, 30)))
        events.append(exam(paper=str(i), date=day, start=start))
    calendar = parse(events)
    assert len(calendar.events) == 2 * len(dates)
    moments = sorted(dt.datetime.combine(d, start, SAST) for d in dates)
    assert starts(calendar) == sorted(moments + moments)
    for vevent in calendar.events:
        if str(vevent["SUMMARY"]).startswith("COS 284 Exam"):
            assert vevent.end - vevent.start == dt.timedelta(hours=3)
        else:
            begin = vevent.start
            assert isinstance(begin, dt.datetime)
            assert vevent.end == begin.replace(hour=23, minute=30)
