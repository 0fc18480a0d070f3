"""Timetable events as read from UP PDFs: weekly lecture sessions, test sittings and exam sittings."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any


def _by_fields(self: Any) -> tuple[type, tuple[Any, ...]]:
    """__reduce__ of the frozen slotted models: pickled as a constructor call with the field values in order.

    Parse children send their Timetable to the worker as a pickle; the default for frozen dataclasses calls
    dataclasses.fields() for every object on unpickling, which made unpickling ~40 % slower.
    """
    return type(self), tuple(getattr(self, name) for name in self.__slots__)


class Kind(StrEnum):
    """The three kinds of UP timetable PDF."""

    LECTURES = "lectures"
    TESTS = "tests"
    EXAMS = "exams"


class Weekday(IntEnum):
    """Day of the week, Monday = 0 as in datetime.date.weekday()."""

    MONDAY = 0
    TUESDAY = 1
    WEDNESDAY = 2
    THURSDAY = 3
    FRIDAY = 4
    SATURDAY = 5
    SUNDAY = 6

    @property
    def label(self) -> str:
        """The day's English name as printed by UP ("Monday")."""
        return self.name.capitalize()

    @classmethod
    def from_label(cls, text: str) -> Weekday:
        """Parse a printed day name ("Monday", "mon", "MONDAY")."""
        key = text.strip().upper()
        for day in cls:
            if day.name == key or (len(key) >= 3 and day.name.startswith(key)):
                return day
        raise ValueError(f"not a day of the week: {text!r}")


class ActivityType(StrEnum):
    """What kind of class an activity code (L1, P2, T1, ...) stands for."""

    LECTURE = "lecture"
    PRACTICAL = "practical"
    TUTORIAL = "tutorial"
    OTHER = "other"

    @classmethod
    def from_activity(cls, activity: str) -> ActivityType:
        """Classify an activity code by its letter: L lecture, P practical, T tutorial."""
        letter = activity.strip()[:1].upper()
        return {"L": cls.LECTURE, "P": cls.PRACTICAL, "T": cls.TUTORIAL}.get(letter, cls.OTHER)


@dataclass(frozen=True, slots=True)
class LectureSession:
    """One weekly class session; a session held in several rooms at once is one event with several venues."""

    __reduce__ = _by_fields

    module: str  # "COS 214"
    offered: str  # "S1", "S2", "Y", "Q1".."Q4"
    group: str  # "G01", "P02", "T01"
    language: str  # "E"
    activity: str  # "L1", "P1", "T2"
    day: Weekday
    start: dt.time
    end: dt.time
    venues: tuple[str, ...]
    campus: str
    study_programme: str = ""

    @property
    def activity_type(self) -> ActivityType:
        """Lecture, practical or tutorial, from the activity code."""
        return ActivityType.from_activity(self.activity)


@dataclass(frozen=True, slots=True)
class TestSitting:
    """One semester test sitting on a fixed date."""

    __reduce__ = _by_fields

    __test__ = False  # not a pytest test class

    module: str
    activity: str  # the printed test label: "Test1", "PTest 1"
    day: str  # as printed: "Saturday"
    date: dt.date
    start: dt.time
    end: dt.time
    venues: tuple[str, ...]
    campus: str


@dataclass(frozen=True, slots=True)
class ExamSitting:
    """One exam sitting; UP prints a start time only."""

    __reduce__ = _by_fields

    module: str
    activity: str  # "Exam Written"
    status: str  # "FINAL", "PROVISIONAL", ...
    paper: str  # "1"
    date: dt.date
    start: dt.time
    venues: tuple[str, ...]  # one combined venue, or () when the cell is empty
    campus: str  # exam campus; "" when empty
    module_campus: str = ""
    comments: str | None = None
    end: dt.time | None = None  # UP does not print one


Event = LectureSession | TestSitting | ExamSitting


@dataclass(frozen=True, slots=True)
class ParseWarning:
    """Something in the PDF the parser could not use; shown to the student, never silently dropped."""

    __reduce__ = _by_fields

    page: int  # 1-based
    message: str
    text: str = ""


@dataclass(frozen=True, slots=True)
class Timetable:
    """Everything read from one PDF."""

    __reduce__ = _by_fields

    kind: Kind
    events: tuple[Event, ...]
    pages: int = 1
    warnings: tuple[ParseWarning, ...] = field(default=())

    @property
    def lectures(self) -> tuple[LectureSession, ...]:
        """The weekly sessions (empty unless kind is LECTURES)."""
        return tuple(e for e in self.events if isinstance(e, LectureSession))

    @property
    def tests(self) -> tuple[TestSitting, ...]:
        """The test sittings (empty unless kind is TESTS)."""
        return tuple(e for e in self.events if isinstance(e, TestSitting))

    @property
    def exams(self) -> tuple[ExamSitting, ...]:
        """The exam sittings (empty unless kind is EXAMS)."""
        return tuple(e for e in self.events if isinstance(e, ExamSitting))
