"""Preferences: defaults, cleaning of stored and submitted values, round trip."""

from __future__ import annotations

import datetime as dt

from schedgen.domain.preferences import (
    DEFAULT_NAME,
    Preferences,
    clean_exam_hours,
    clean_name,
    clean_reminder,
    parse_date_range,
)


def test_round_trip() -> None:
    prefs = Preferences(
        name="My S2",
        colours={"COS214": "11"},
        dates={"S2": (dt.date(2026, 7, 13), dt.date(2026, 10, 16))},
        skip_holidays=False,
        skip_recess=False,
        exam_hours=2.5,
        reminder_minutes=15,
    )
    assert Preferences.from_dict(prefs.to_dict()) == prefs
    assert Preferences.from_dict({}) == Preferences()


def test_cleaning() -> None:
    assert clean_name("  My \x00 calendar\n") == "My calendar"
    assert clean_name("") == DEFAULT_NAME
    assert len(clean_name("x" * 500)) == 80
    assert clean_exam_hours("2") == 2.0
    assert clean_exam_hours("nope") == clean_exam_hours(99) == 3.0
    assert clean_reminder("none") is None
    assert clean_reminder("15") == 15
    assert clean_reminder("-1") is None
    assert parse_date_range("2026-07-13", "2026-10-16") == (dt.date(2026, 7, 13), dt.date(2026, 10, 16))
    assert parse_date_range("2026-10-16", "2026-07-13") is None
    assert parse_date_range("", "2026-07-13") is None
    stored = Preferences.from_dict(
        {"colours": {"cos 214": "12", "WTW 285": "3"}, "dates": {"s2": ["x", "y"]}}
    )
    assert stored.colours == {"WTW285": "3"}
    assert stored.dates == {}
