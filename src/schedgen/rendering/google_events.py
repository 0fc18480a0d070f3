"""Our iCalendar output -> Google Calendar event resources, with deterministic Google event ids.

Built from the rendered .ics itself, so Google gets exactly what the download and the feed hold: weekly
classes as recurring events (RRULE, EXDATE in Africa/Johannesburg), tests and exams as single events.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from typing import TYPE_CHECKING, Any

from schedgen.rendering.ics import TIMEZONE

if TYPE_CHECKING:
    from icalendar import Component

ID_PREFIX = "sg"  # base32hex letters too; marks ids as ours at a glance


def google_event_id(uid: str) -> str:
    """A valid Google event id (base32hex: a-v and 0-9, 5 to 1024 characters) derived from an event UID."""
    digest = hashlib.sha256(uid.encode("utf-8")).digest()
    return ID_PREFIX + base64.b32hexencode(digest).decode("ascii").rstrip("=").lower()


def digest_of(resource: dict[str, Any]) -> str:
    """A stable hash of an event resource: equal hashes mean nothing to update."""
    return hashlib.sha256(json.dumps(resource, sort_keys=True).encode("utf-8")).hexdigest()


def _local(value: dt.datetime) -> str:
    return value.strftime("%Y%m%dT%H%M%S")


def _when(value: dt.datetime) -> dict[str, str]:
    return {"dateTime": value.isoformat(), "timeZone": TIMEZONE}


def _exdates(vevent: Component) -> list[dt.datetime]:
    raw = vevent.get("EXDATE")
    if raw is None:
        return []
    lists = raw if isinstance(raw, list) else [raw]
    return sorted(item.dt for entry in lists for item in entry.dts)


def _reminders(vevent: Component) -> dict[str, Any]:
    minutes = []
    for alarm in vevent.walk("VALARM"):
        trigger = alarm.decoded("TRIGGER")
        if isinstance(trigger, dt.timedelta):
            minutes.append(int(-trigger.total_seconds() // 60))
    if not minutes:
        return {"useDefault": False, "overrides": []}
    return {"useDefault": False, "overrides": [{"method": "popup", "minutes": m} for m in sorted(minutes)]}


def google_event(vevent: Component) -> dict[str, Any]:
    """One VEVENT of our renderer as a Google event resource (events.insert / events.update body)."""
    uid = str(vevent["UID"])
    start: dt.datetime = vevent.decoded("DTSTART")
    end: dt.datetime = vevent.decoded("DTEND") if "DTEND" in vevent else start + dt.timedelta(hours=1)
    resource: dict[str, Any] = {
        "id": google_event_id(uid),
        "summary": str(vevent.get("SUMMARY", "")),
        "description": str(vevent.get("DESCRIPTION", "")),
        "start": _when(start),
        "end": _when(end),
        "status": "tentative" if str(vevent.get("STATUS", "")).upper() == "TENTATIVE" else "confirmed",
        "extendedProperties": {"private": {"schedgenUid": uid}},
        "reminders": _reminders(vevent),
    }
    if "LOCATION" in vevent:
        resource["location"] = str(vevent["LOCATION"])
    if "X-SCHEDGEN-GOOGLE-COLOR-ID" in vevent:
        resource["colorId"] = str(vevent["X-SCHEDGEN-GOOGLE-COLOR-ID"])
    if "RRULE" in vevent:
        raw_rule = vevent["RRULE"].to_ical()
        rule = raw_rule.decode("ascii") if isinstance(raw_rule, bytes) else str(raw_rule)
        recurrence = [f"RRULE:{rule}"]
        skipped = _exdates(vevent)
        if skipped:
            recurrence.append(f"EXDATE;TZID={TIMEZONE}:" + ",".join(_local(d) for d in skipped))
        resource["recurrence"] = recurrence
    return resource


def google_events(ics: bytes) -> list[dict[str, Any]]:
    """Every event of an .ics made by render_calendar, as Google event resources (in file order)."""
    from icalendar import Calendar  # loaded on first use

    calendar = Calendar.from_ical(ics)
    return [google_event(vevent) for vevent in calendar.walk("VEVENT")]
