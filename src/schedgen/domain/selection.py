"""Choosing which events a student wants: one group per module and activity type, only/exclude modules."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from schedgen.domain.events import ActivityType, Event, LectureSession


def module_key(module: str) -> str:
    """Compare module codes ignoring case and spaces: "cos214" and "COS 214" give "COS214"."""
    return "".join(module.split()).upper()


def group_key(group: str) -> str:
    """Compare group codes ignoring case and spaces: "g01" gives "G01"."""
    return "".join(group.split()).upper()


def parse_group_choice(text: str) -> tuple[str, str]:
    """Parse "MODULE=GROUP" ("COS 214=G01") into (module, group); raises ValueError otherwise."""
    module, sep, group = text.partition("=")
    if not sep or not module.strip() or not group.strip():
        raise ValueError(f"a group choice looks like COS214=G01, not {text!r}")
    return module.strip(), group.strip()


@dataclass(frozen=True, slots=True)
class Selection:
    """What to keep: chosen groups as (module, group) pairs, and modules to keep only or to leave out."""

    groups: tuple[tuple[str, str], ...] = ()
    only: tuple[str, ...] = ()  # empty means every module
    exclude: tuple[str, ...] = ()

    @classmethod
    def build(
        cls,
        groups: Iterable[str] | Mapping[str, str] = (),
        only: Iterable[str] = (),
        exclude: Iterable[str] = (),
    ) -> Selection:
        """Build from CLI-style values: "COS214=G01" strings or a module -> group mapping."""
        pairs = (
            tuple(groups.items()) if isinstance(groups, Mapping) else tuple(map(parse_group_choice, groups))
        )
        return cls(groups=pairs, only=tuple(only), exclude=tuple(exclude))


# (module key, activity type) -> the group keys the student chose for that activity type
_Allowed = dict[tuple[str, ActivityType], set[str]]


def _group_types(lectures: Iterable[LectureSession]) -> dict[tuple[str, str], set[ActivityType]]:
    types: dict[tuple[str, str], set[ActivityType]] = defaultdict(set)
    for session in lectures:
        types[(module_key(session.module), group_key(session.group))].add(session.activity_type)
    return types


def _allowed_groups(lectures: Sequence[LectureSession], selection: Selection) -> _Allowed:
    types = _group_types(lectures)
    allowed: _Allowed = defaultdict(set)
    for module, group in selection.groups:
        key = (module_key(module), group_key(group))
        for activity_type in types.get(key, ()):
            allowed[(key[0], activity_type)].add(key[1])
    return allowed


def _module_wanted(module: str, selection: Selection) -> bool:
    key = module_key(module)
    if selection.only and key not in {module_key(m) for m in selection.only}:
        return False
    return key not in {module_key(m) for m in selection.exclude}


def select_events(events: Sequence[Event], selection: Selection) -> tuple[Event, ...]:
    """The events the selection keeps, in their original order."""
    lectures = [e for e in events if isinstance(e, LectureSession)]
    allowed = _allowed_groups(lectures, selection)
    kept: list[Event] = []
    for event in events:
        if not _module_wanted(event.module, selection):
            continue
        if isinstance(event, LectureSession):
            chosen = allowed.get((module_key(event.module), event.activity_type))
            if chosen is not None and group_key(event.group) not in chosen:
                continue
        kept.append(event)
    return tuple(kept)


def unmatched_choices(events: Sequence[Event], selection: Selection) -> tuple[str, ...]:
    """Plain-language notes on choices that match nothing (a typo would otherwise pass silently)."""
    modules = {module_key(e.module) for e in events}
    groups: dict[str, set[str]] = defaultdict(set)
    for event in events:
        if isinstance(event, LectureSession):
            groups[module_key(event.module)].add(group_key(event.group))
    notes: list[str] = []
    for module, group in selection.groups:
        known = groups.get(module_key(module), set())
        if module_key(module) not in modules:
            notes.append(f"{module} is not in this timetable")
        elif group_key(group) not in known:
            notes.append(f"{module} has no group {group} (it has {', '.join(sorted(known)) or 'no groups'})")
    notes.extend(
        f"{module} is not in this timetable"
        for module in (*selection.only, *selection.exclude)
        if module_key(module) not in modules
    )
    return tuple(dict.fromkeys(notes))
