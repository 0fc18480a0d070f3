"""A student's whole flow in a real browser: upload three PDFs, choose groups, customise, download the .ics."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from zoneinfo import ZoneInfo

from icalendar import Calendar
from playwright.sync_api import Page, expect

from tests.e2e.conftest import screenshot

SAST = ZoneInfo("Africa/Johannesburg")
# The fixtures' practical and tutorial groups, and the ones this student takes (no clashes left with them).
GROUPS = {
    "COS214-practical": "P02",
    "COS226-practical": "P02",
    "COS284-practical": "P01",
    "STK220-practical": "P03",
    "WTW285-tutorial": "T03",
}


def upload_all(page: Page, paths: dict[str, Path]) -> None:
    """Pick the three PDFs at once and wait until each one has been read."""
    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Your UP timetable")
    page.set_input_files("#files", [str(p) for p in paths.values()])
    files = page.locator("#file-list .file")
    expect(files).to_have_count(3)
    expect(page.locator("#file-list .file.completed")).to_have_count(3, timeout=30_000)
    expect(files.nth(0)).to_contain_text("Lectures: 30 classes")
    expect(files.nth(1)).to_contain_text("Semester tests: 12 tests")
    expect(files.nth(2)).to_contain_text("Exams: 5 exams")
    expect(page.locator("#continue")).to_be_enabled()


def choose_groups(page: Page) -> None:
    """Pick one group per practical and tutorial, waiting for the grid after each choice."""
    status = page.locator("#week-status")
    for number, (choice, group) in enumerate(GROUPS.items(), start=1):
        radio = page.locator(f"#g-{choice}-{group}")
        radio.click()
        expect(status).to_have_attribute("data-open", str(len(GROUPS) - number))
        expect(page.locator(f"#g-{choice}-{group}")).to_be_checked()


def test_three_pdfs_to_a_correct_calendar(
    page: Page, real_pdf_paths: dict[str, Path], screenshot_dir: Path
) -> None:
    console_errors: list[str] = []  # script errors and Content-Security-Policy violations
    page.on(
        "console", lambda message: console_errors.append(message.text) if message.type == "error" else None
    )
    upload_all(page, real_pdf_paths)
    screenshot(page, screenshot_dir, "desktop-1-upload")
    page.get_by_role("button", name="See your week").click()
    expect(page).to_have_url(re.compile(r"/t/[A-Za-z0-9_-]{32}$"))
    timetable_url = page.url

    # Your week: S2 (the fixtures' semester) is shown; undecided groups are options, and one already clashes.
    expect(page.locator("#period")).to_have_value("S2")
    status = page.locator("#week-status")
    expect(status).to_have_attribute("data-open", "5")
    expect(status).not_to_have_attribute("data-clashes", "0")
    expect(page.locator(".block.clash").first).to_be_visible()
    screenshot(page, screenshot_dir, "desktop-2-week-before-choosing")

    choose_groups(page)
    expect(status).to_have_attribute("data-clashes", "0")
    expect(page.locator(".block.option")).to_have_count(0)
    expect(page.locator(".day .block")).to_have_count(21)

    # Leave one test out, then check the choice survives a reload (server-side state).
    test2 = page.get_by_role("checkbox", name=re.compile(r"COS 284 Test2"))
    test2.uncheck()
    expect(status).to_contain_text("11 tests")
    page.reload()
    expect(page.get_by_role("checkbox", name=re.compile(r"COS 284 Test2"))).not_to_be_checked()
    expect(page.locator("#g-COS226-practical-P02")).to_be_checked()
    expect(status).to_contain_text("21 weekly classes, 11 tests, 5 exams")
    screenshot(page, screenshot_dir, "desktop-3-week-chosen", at="#grid-title")

    # Filters narrow the view only.
    page.select_option("#type-filter", "practical")
    expect(page.locator(".day .block")).to_have_count(4)
    expect(page).to_have_url(re.compile(r"\?type=practical$"))
    page.select_option("#type-filter", "")
    expect(page.locator(".day .block")).to_have_count(21)

    # Customise: a colour, a reminder and a name.
    page.get_by_role("link", name="Next: customise").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Customise your calendar")
    expect(page.locator("#start-S2")).to_have_value("2026-07-13")
    expect(page.locator("#end-S2")).to_have_value("2026-10-16")
    page.get_by_role("group", name="COS 214").get_by_role("radio", name="Tomato").check()
    page.select_option("#reminder", "15")
    page.fill("#name", "My second semester")
    expect(page.get_by_text("National Women's Day (observed)")).to_be_attached()
    screenshot(page, screenshot_dir, "desktop-4-customise")
    page.get_by_role("button", name="Save and continue").click()

    # Get it: the summary, the download, and the places for sync and subscribe.
    expect(page.get_by_role("heading", level=1)).to_have_text("Get your calendar")
    expect(page.locator(".lead")).to_contain_text("21 weekly classes, 11 tests, 5 exams")
    expect(page.get_by_role("button", name="Sync to Google Calendar")).to_be_disabled()
    expect(page.get_by_role("button", name="Subscribe (live feed)")).to_be_enabled()  # issue 6
    screenshot(page, screenshot_dir, "desktop-5-get")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download .ics").click()
    download = download_info.value
    assert download.suggested_filename == "My-second-semester.ics"
    check_calendar(Path(download.path()).read_bytes())

    # A second tab (a new page on the same link) sees the same state.
    other = page.context.new_page()
    other.goto(timetable_url)
    expect(other.locator("#week-status")).to_contain_text("21 weekly classes, 11 tests, 5 exams")
    other.close()
    assert console_errors == []


def _events(calendar: Calendar) -> dict[str, object]:
    return {str(e["SUMMARY"]): e for e in calendar.walk("VEVENT")}


def check_calendar(data: bytes) -> None:
    """The file holds exactly what was on screen, with the chosen colour, reminder and holidays skipped."""
    calendar = Calendar.from_ical(data)
    assert str(calendar["X-WR-CALNAME"]) == "My second semester"
    events = calendar.walk("VEVENT")
    assert len(events) == 21 + 11 + 5
    by_summary: dict[str, list] = {}
    for event in events:
        by_summary.setdefault(str(event["SUMMARY"]), []).append(event)
    assert "COS 284 Test2" not in by_summary
    assert len(by_summary["COS 226 P1"]) == 1  # one practical group, not four

    l1 = by_summary["COS 214 L1"][0]
    assert l1.decoded("DTSTART") == dt.datetime(2026, 7, 13, 8, 30, tzinfo=SAST)
    assert l1.decoded("DTEND") == dt.datetime(2026, 7, 13, 9, 20, tzinfo=SAST)
    assert l1["RRULE"]["FREQ"] == ["WEEKLY"]
    assert l1["RRULE"]["UNTIL"][0] == dt.datetime(2026, 10, 16, 21, 59, 59, tzinfo=dt.UTC)
    assert [d.dt for d in l1["EXDATE"].dts] == [dt.datetime(2026, 8, 10, 8, 30, tzinfo=SAST)]
    l3 = by_summary["COS 214 L3"][0]  # Thursdays: Heritage Day
    assert [d.dt for d in l3["EXDATE"].dts] == [dt.datetime(2026, 9, 24, 9, 30, tzinfo=SAST)]
    practical = by_summary["COS 226 P1"][0]
    assert practical.decoded("DTSTART") == dt.datetime(2026, 7, 16, 10, 30, tzinfo=SAST)  # P02, Thursdays

    for event in events:
        module = " ".join(str(event["SUMMARY"]).split()[:2])
        if module == "COS 214":
            assert str(event["COLOR"]) == "red"
            assert str(event["X-SCHEDGEN-GOOGLE-COLOR-ID"]) == "11"
        alarms = event.walk("VALARM")
        assert len(alarms) == 1
        assert alarms[0].decoded("TRIGGER") == -dt.timedelta(minutes=15)

    exam = by_summary["COS 214 Exam"][0]
    assert exam.decoded("DTSTART") == dt.datetime(2025, 11, 13, 15, 0, tzinfo=SAST)
    assert exam.decoded("DTEND") == dt.datetime(2025, 11, 13, 18, 0, tzinfo=SAST)
    test = by_summary["COS 214 Test1"][0]
    assert test.decoded("DTSTART") == dt.datetime(2025, 8, 27, 10, 0, tzinfo=SAST)
    assert test.decoded("DTEND") == dt.datetime(2025, 8, 27, 11, 30, tzinfo=SAST)


def test_keyboard_only_choice_and_visible_focus(page: Page, real_pdf_paths: dict[str, Path]) -> None:
    upload_all(page, real_pdf_paths)
    page.get_by_role("button", name="See your week").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your week")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    outline = skip.evaluate("el => getComputedStyle(el).outlineStyle")
    assert outline == "solid"
    radio = page.locator("#g-COS214-practical-P01")
    radio.focus()
    page.keyboard.press("ArrowDown")  # arrow keys move through a radio group and choose
    expect(page.locator("#week-status")).to_have_attribute("data-open", "4")
    expect(page.locator("#g-COS214-practical-P02")).to_be_checked()
    expect(page.locator("#g-COS214-practical-P02")).to_be_focused()  # focus survives the htmx swap
