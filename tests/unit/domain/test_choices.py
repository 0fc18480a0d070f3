"""Choices: group options, periods, what is chosen, and the stored form of choices."""

from __future__ import annotations

import datetime as dt

from schedgen.domain.choices import (
    Choices,
    choice_key,
    chosen_events,
    current_or_next_period,
    dated_in,
    default_period,
    event_key,
    group_choices,
    meets_in,
    periods_with_classes,
    undecided,
)
from schedgen.domain.events import ExamSitting, LectureSession, TestSitting, Weekday
from schedgen.domain.terms import DateRange, TermCalendar, unknown_terms

TERMS = TermCalendar(
    year=2026,
    s1=DateRange(dt.date(2026, 2, 9), dt.date(2026, 5, 22)),
    s2=DateRange(dt.date(2026, 7, 13), dt.date(2026, 10, 16)),
    quarters={},
)


def lecture(group: str = "G01", activity: str = "L1", offered: str = "S2", **kw: object) -> LectureSession:
    values: dict[str, object] = {
        "module": "COS 214",
        "offered": offered,
        "group": group,
        "language": "E",
        "activity": activity,
        "day": Weekday.MONDAY,
        "start": dt.time(8, 30),
        "end": dt.time(9, 20),
        "venues": ("IT 4-4",),
        "campus": "HATFIELD",
    }
    values.update(kw)
    return LectureSession(**values)  # type: ignore[arg-type]


def test_group_choices_only_where_a_type_has_several_groups() -> None:
    sessions = [lecture(), lecture("P01", "P1"), lecture("P02", "P1", day=Weekday.TUESDAY)]
    found = group_choices(sessions, Choices())
    assert [(c.module, c.activity_type.value, [o.group for o in c.options]) for c in found] == [
        ("COS 214", "practical", ["P01", "P02"])
    ]
    assert found[0].chosen is None
    chosen = group_choices(sessions, Choices(groups={"COS214:practical": "P02"}))
    assert chosen[0].chosen == "P02"
    assert group_choices(sessions, Choices(groups={"COS214:practical": "P09"}))[0].chosen is None


def test_chosen_events_keep_one_group_and_drop_left_out_sessions() -> None:
    l1, p1, p2 = lecture(), lecture("P01", "P1"), lecture("P02", "P1", day=Weekday.TUESDAY)
    test = TestSitting(
        "COS 214", "Test1", "Saturday", dt.date(2026, 8, 22), dt.time(10), dt.time(11, 30), (), ""
    )
    events = [l1, p1, p2, test]
    choices = Choices(groups={choice_key("cos214", "practical"): "P02"}, period="S2")
    assert chosen_events(events, choices, TERMS, dt.date(2026, 3, 1)) == (l1, p2, test)
    left_out = Choices(groups=choices.groups, deselected=frozenset({event_key(test)}), period="S2")
    assert chosen_events(events, left_out, TERMS, dt.date(2026, 3, 1)) == (l1, p2)
    without = Choices(excluded_modules=frozenset({"COS214"}), period="S2")
    assert chosen_events(events, without, TERMS, dt.date(2026, 3, 1)) == ()
    # undecided: every group stays in, and is reported
    assert chosen_events(events, Choices(period="S2"), TERMS, dt.date(2026, 3, 1)) == (l1, p1, p2, test)
    assert [c.key for c in undecided([l1, p1, p2], Choices(), "S2")] == ["COS214:practical"]


def test_periods_and_dates() -> None:
    assert meets_in("Y", "S1")
    assert meets_in("Y", "S2")
    assert meets_in("Q3", "S2")
    assert not meets_in("S1", "S2")
    assert not meets_in("Q1", "Q2")
    assert meets_in("S1", "Q1")
    assert meets_in("S1", "ALL")
    assert dated_in(dt.date(2025, 11, 13), "S2", TERMS)  # the year of the date does not matter
    assert dated_in(dt.date(2025, 6, 10), "S1", TERMS)
    assert not dated_in(dt.date(2025, 6, 10), "Q3", TERMS)
    assert periods_with_classes([lecture(offered="Y")]) == ("S1", "S2", "Q1", "Q2", "Q3", "Q4")


def test_default_period_is_current_or_next_with_classes() -> None:
    assert current_or_next_period(TERMS, dt.date(2026, 1, 5)) == "S1"
    assert current_or_next_period(TERMS, dt.date(2026, 5, 22)) == "S1"
    assert current_or_next_period(TERMS, dt.date(2026, 5, 23)) == "S2"
    assert current_or_next_period(TERMS, dt.date(2027, 1, 5)) == "S2"  # a past year's data: its last semester
    unknown = unknown_terms(2027)  # no dates known: the halves of the year decide
    assert current_or_next_period(unknown, dt.date(2027, 1, 5)) == "S1"
    assert current_or_next_period(unknown, dt.date(2027, 6, 30)) == "S1"
    assert current_or_next_period(unknown, dt.date(2027, 7, 1)) == "S2"
    assert dated_in(dt.date(2027, 6, 30), "S1", unknown)
    assert dated_in(dt.date(2027, 7, 1), "S2", unknown)
    both = [lecture(offered="S1"), lecture(offered="S2")]
    assert default_period(both, TERMS, dt.date(2026, 3, 1)) == "S1"
    assert default_period([lecture(offered="S2")], TERMS, dt.date(2026, 3, 1)) == "S2"  # S1 has none
    assert default_period([], TERMS, dt.date(2026, 8, 1)) == "S2"


def test_event_keys_are_stable_and_distinct() -> None:
    exam = ExamSitting("COS 214", "Exam Written", "FINAL", "1", dt.date(2025, 11, 13), dt.time(15), (), "")
    keys = {event_key(e) for e in (lecture(), lecture("P01", "P1"), exam)}
    assert len(keys) == 3
    assert event_key(lecture()) == event_key(lecture(venues=("Elsewhere",)))  # venues are not identity
    assert all(len(k) == 12 for k in keys)


def test_choices_round_trip_and_distrust_stored_json() -> None:
    choices = Choices(
        groups={"COS214:practical": "P02"}, deselected=frozenset({"abc"}), excluded_modules=frozenset({"WTW285"}),
        period="S1",
    )  # fmt: skip
    assert Choices.from_dict(choices.to_dict()) == choices
    assert Choices.from_dict(None) == Choices()
    odd = Choices.from_dict(
        {"groups": ["x"], "deselected": [1, "k"], "period": "S9", "excluded_modules": ["wtw 285"]}
    )
    assert odd == Choices(groups={}, deselected=frozenset({"k"}), excluded_modules=frozenset({"WTW285"}))
