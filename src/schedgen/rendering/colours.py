"""Google Calendar's 11 event colours and the default colour each module gets."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from schedgen.domain.selection import module_key


@dataclass(frozen=True, slots=True)
class GoogleColour:
    """One Google Calendar event colour, with the nearest CSS3 colour name for RFC 7986 COLOR."""

    color_id: str  # Google's colorId, "1".."11"
    name: str  # as Google Calendar shows it
    hex: str  # as Google Calendar shows it (#RRGGBB)
    css_name: str  # RFC 7986 COLOR only allows CSS3 colour names


# Google Calendar's event colour palette, in colorId order.
GOOGLE_COLOURS: tuple[GoogleColour, ...] = (
    GoogleColour("1", "Lavender", "#7986CB", "mediumpurple"),
    GoogleColour("2", "Sage", "#33B679", "mediumseagreen"),
    GoogleColour("3", "Grape", "#8E24AA", "darkorchid"),
    GoogleColour("4", "Flamingo", "#E67C73", "lightcoral"),
    GoogleColour("5", "Banana", "#F6BF26", "goldenrod"),
    GoogleColour("6", "Tangerine", "#F4511E", "orangered"),
    GoogleColour("7", "Peacock", "#039BE5", "dodgerblue"),
    GoogleColour("8", "Graphite", "#616161", "dimgray"),
    GoogleColour("9", "Blueberry", "#3F51B5", "darkslateblue"),
    GoogleColour("10", "Basil", "#0B8043", "forestgreen"),
    GoogleColour("11", "Tomato", "#D50000", "red"),
)


def colour_by_id(color_id: str) -> GoogleColour:
    """The colour with Google colorId `color_id` ("1".."11"); raises ValueError otherwise."""
    for colour in GOOGLE_COLOURS:
        if colour.color_id == color_id.strip():
            return colour
    raise ValueError(f"not a Google Calendar colour id (1 to 11): {color_id!r}")


def parse_colour(text: str) -> GoogleColour:
    """A colour from its id ("11") or name ("tomato"); raises ValueError otherwise."""
    wanted = text.strip().casefold()
    for colour in GOOGLE_COLOURS:
        if wanted in (colour.color_id, colour.name.casefold()):
            return colour
    names = ", ".join(c.name for c in GOOGLE_COLOURS)
    raise ValueError(f"not a Google Calendar colour: {text!r} (use 1 to 11 or one of {names})")


def default_colour(module: str) -> GoogleColour:
    """A module's stable default colour, from a SHA-256 of its code (same on every machine and run)."""
    digest = hashlib.sha256(module_key(module).encode("utf-8")).digest()
    return GOOGLE_COLOURS[int.from_bytes(digest[:8], "big") % len(GOOGLE_COLOURS)]


def module_colour(module: str, chosen: Mapping[str, str] | None = None) -> GoogleColour:
    """The colour a module gets: the chosen colorId or name if any (keys compared like module codes)."""
    for key, value in (chosen or {}).items():
        if module_key(key) == module_key(module):
            return parse_colour(value)
    return default_colour(module)
