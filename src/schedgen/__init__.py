"""schedgen: University of Pretoria timetable PDFs to calendars."""

__version__ = "0.1.0"
