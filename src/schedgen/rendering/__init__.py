"""Pure rendering: domain timetables to JSON contract, tables and iCalendar bytes."""
