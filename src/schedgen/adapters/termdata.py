"""Term data files: load a year's UP term calendar from the package data or from a user's TOML file."""

from __future__ import annotations

import re
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from schedgen.domain.terms import TermCalendar, terms_from_toml
from schedgen.errors import TermDataError, UnknownTermYearError

_PACKAGE = "schedgen"
_TERMS_DIR = ("data", "terms")  # where the bundled <year>.toml files live inside the package
_YEAR_FILE = re.compile(r"^(\d{4})\.toml$")


def _terms_dir() -> Traversable:
    return resources.files(_PACKAGE).joinpath(*_TERMS_DIR)


def available_years() -> tuple[int, ...]:
    """The years with bundled term data, oldest first."""
    years = []
    for entry in _terms_dir().iterdir():
        match = _YEAR_FILE.match(entry.name)
        if match and entry.is_file():
            years.append(int(match.group(1)))
    return tuple(sorted(years))


def _parse(text: str, origin: str) -> TermCalendar:
    try:
        return terms_from_toml(text)
    except ValueError as exc:
        raise TermDataError(f"The term dates in {origin} cannot be used: {exc}.") from exc


def load_terms(year: int) -> TermCalendar:
    """The bundled term calendar for `year`; raises UnknownTermYearError if there is none."""
    entry = _terms_dir().joinpath(f"{year}.toml")
    if not entry.is_file():
        known = ", ".join(str(y) for y in available_years()) or "none"
        raise UnknownTermYearError(
            f"We have no term dates for {year} (we have: {known}). Give the semester dates yourself."
        )
    terms = _parse(entry.read_text(encoding="utf-8"), f"the bundled file for {year}")
    if terms.year != year:
        raise TermDataError(f"The bundled term dates file for {year} says it is for {terms.year}.")
    return terms


def load_terms_file(path: str | Path) -> TermCalendar:
    """A term calendar from a user's TOML file; raises TermDataError if it is missing or malformed."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TermDataError(f"The term dates file {file.name} cannot be read.") from exc
    return _parse(text, file.name)
