"""Tests for schedgen.domain.selection: group choices and only/exclude module filters."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schedgen.domain.events import Event, ExamSitting, LectureSession, TestSitting, Weekday
from schedgen.domain.selection import (
    Selection,
    module_key,
    parse_group_choice,
    select_events,
    unmatched_choices,
)


def lecture(module: str, group: str, activity: str, day: Weekday = Weekday.MONDAY) -> LectureSession:
    """A lecture session with only the fields selection looks at varied."""
    return LectureSession(
        module=module,
        offered="S2",
        group=group,
        language="E",
        activity=activity,
        day=day,
        start=dt.time(8, 30),
        end=dt.time(9, 20),
        venues=("Centenary 6",),
        campus="HATFIELD",
    )


COS214_L_G01 = lecture("COS 214", "G01", "L1")
COS214_L_G02 = lecture("COS 214", "G02", "L1", Weekday.TUESDAY)
COS214_P_P01 = lecture("COS 214", "P01", "P1", Weekday.WEDNESDAY)
COS214_P_P02 = lecture("COS 214", "P02", "P1", Weekday.THURSDAY)
COS284_L_G01 = lecture("COS 284", "G01", "L1")
COS284_L_G02 = lecture("COS 284", "G02", "L1")
COS214_TEST = TestSitting(
    module="COS 214",
    activity="Test1",
    day="Saturday",
    date=dt.date(2026, 8, 22),
    start=dt.time(9, 0),
    end=dt.time(10, 30),
    venues=("IT 4-1",),
    campus="HATFIELD",
)
COS214_EXAM = ExamSitting(
    module="COS 214",
    activity="Exam Written",
    status="FINAL",
    paper="1",
    date=dt.date(2026, 11, 12),
    start=dt.time(7, 30),
    venues=(),
    campus="HATFIELD",
)
EVENTS: tuple[Event, ...] = (
    COS214_L_G01,
    COS214_L_G02,
    COS214_P_P01,
    COS214_P_P02,
    COS284_L_G01,
    COS284_L_G02,
    COS214_TEST,
    COS214_EXAM,
)


@pytest.mark.parametrize("spelling", ["COS 214", "cos214", " Cos  214 ", "COS214"])
def test_module_key_ignores_case_and_spaces(spelling: str) -> None:
    assert module_key(spelling) == "COS214"


def test_parse_group_choice() -> None:
    assert parse_group_choice(" COS 214 = G01 ") == ("COS 214", "G01")


@pytest.mark.parametrize("text", ["COS214", "=G01", "COS214=", "  =  "])
def test_parse_group_choice_rejects_malformed(text: str) -> None:
    with pytest.raises(ValueError, match="COS214=G01"):
        parse_group_choice(text)


def test_empty_selection_keeps_everything() -> None:
    assert select_events(EVENTS, Selection()) == EVENTS


def test_lecture_group_choice_leaves_other_activity_types_and_modules_alone() -> None:
    kept = select_events(EVENTS, Selection.build(groups=["cos214=g01"]))
    assert COS214_L_G02 not in kept
    assert kept == (
        COS214_L_G01,
        COS214_P_P01,
        COS214_P_P02,
        COS284_L_G01,
        COS284_L_G02,
        COS214_TEST,
        COS214_EXAM,
    )


def test_choices_for_two_activity_types_of_one_module() -> None:
    kept = select_events(EVENTS, Selection.build(groups={"COS 214": "G02", "COS214": "P01"}))
    assert [e for e in kept if isinstance(e, LectureSession) and e.module == "COS 214"] == [
        COS214_L_G02,
        COS214_P_P01,
    ]


def test_group_used_for_several_activity_types_restricts_each_of_them() -> None:
    both = lecture("WTW 114", "G01", "L1"), lecture("WTW 114", "G01", "T1")
    others = lecture("WTW 114", "G02", "L1"), lecture("WTW 114", "G02", "T1")
    assert select_events((*both, *others), Selection.build(groups=["WTW 114=G01"])) == both


def test_choice_with_unknown_group_changes_nothing_and_is_reported() -> None:
    selection = Selection.build(groups=["COS 214=G09", "ABC 123=G01"], only=["XYZ 999"], exclude=["cos284"])
    assert select_events(EVENTS, Selection.build(groups=["COS 214=G09"])) == EVENTS
    notes = unmatched_choices(EVENTS, selection)
    assert notes == (
        "COS 214 has no group G09 (it has G01, G02, P01, P02)",
        "ABC 123 is not in this timetable",
        "XYZ 999 is not in this timetable",
    )


def test_only_and_exclude() -> None:
    only = select_events(EVENTS, Selection.build(only=["cos 284"]))
    assert only == (COS284_L_G01, COS284_L_G02)
    excluded = select_events(EVENTS, Selection.build(exclude=["COS214"]))
    assert excluded == (COS284_L_G01, COS284_L_G02)
    both = select_events(EVENTS, Selection.build(only=["COS 284"], exclude=["cos284"]))
    assert both == ()


@given(
    picks=st.lists(st.sampled_from(EVENTS), max_size=12),
    groups=st.lists(st.sampled_from(["COS 214=G01", "COS 214=P02", "cos284=g02", "COS 214=T01"]), max_size=3),
    exclude=st.lists(st.sampled_from(["COS 214", "cos284", "WTW 114"]), max_size=2),
)
def test_selection_returns_an_ordered_subsequence(
    picks: list[Event], groups: list[str], exclude: list[str]
) -> None:
    kept = select_events(picks, Selection.build(groups=groups, exclude=exclude))
    remaining = iter(picks)
    assert all(any(event is other for other in remaining) for event in kept)
    excluded = {module_key(m) for m in exclude}
    assert all(module_key(e.module) not in excluded for e in kept)
    tests_and_exams = [
        e for e in picks if not isinstance(e, LectureSession) and module_key(e.module) not in excluded
    ]
    assert [e for e in kept if not isinstance(e, LectureSession)] == tests_and_exams
