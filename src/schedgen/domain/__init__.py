"""Pure domain model: timetable events and term calendars (standard library only)."""
