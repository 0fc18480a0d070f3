"""Tests for schedgen.rendering.colours: the Google palette and stable per-module defaults."""

from __future__ import annotations

import re

import pytest

from schedgen.rendering.colours import (
    GOOGLE_COLOURS,
    colour_by_id,
    default_colour,
    module_colour,
    parse_colour,
)


def test_palette_has_googles_eleven_named_colours_in_id_order() -> None:
    assert [c.color_id for c in GOOGLE_COLOURS] == [str(i) for i in range(1, 12)]
    assert [c.name for c in GOOGLE_COLOURS] == [
        "Lavender",
        "Sage",
        "Grape",
        "Flamingo",
        "Banana",
        "Tangerine",
        "Peacock",
        "Graphite",
        "Blueberry",
        "Basil",
        "Tomato",
    ]
    assert all(re.fullmatch(r"#[0-9A-F]{6}", c.hex) for c in GOOGLE_COLOURS)
    assert all(re.fullmatch(r"[a-z]+", c.css_name) for c in GOOGLE_COLOURS)
    assert len({c.css_name for c in GOOGLE_COLOURS}) == 11


def test_lookup_by_id_and_name() -> None:
    assert colour_by_id("11").name == "Tomato"
    assert parse_colour(" tomato ").color_id == "11"
    assert parse_colour("9").name == "Blueberry"
    with pytest.raises(ValueError, match="1 to 11"):
        colour_by_id("12")
    with pytest.raises(ValueError, match="Lavender"):
        parse_colour("chartreuse")


def test_default_colour_is_pinned_and_ignores_case_and_spaces() -> None:
    # Pinned values: a change here re-colours every student's calendar.
    assert default_colour("COS 214").color_id == "2"
    assert default_colour("COS 284").color_id == "5"
    assert default_colour("WTW 114").color_id == "11"
    assert default_colour("cos214") == default_colour(" COS 214 ")


def test_default_colours_spread_over_the_whole_palette() -> None:
    used = {default_colour(f"COS {n}").color_id for n in range(100, 400)}
    assert used == {c.color_id for c in GOOGLE_COLOURS}


def test_module_colour_prefers_the_students_choice() -> None:
    chosen = {"cos214": "Tomato", "COS 284": "7"}
    assert module_colour("COS 214", chosen).color_id == "11"
    assert module_colour("COS 284", chosen).name == "Peacock"
    assert module_colour("WTW 114", chosen) == default_colour("WTW 114")
    assert module_colour("WTW 114") == default_colour("WTW 114")
