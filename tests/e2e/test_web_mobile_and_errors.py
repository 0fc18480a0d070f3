"""The same flow at 375 px wide, and every way an upload can be refused, in a real browser."""

from __future__ import annotations

import os
import re
from pathlib import Path

from playwright.sync_api import Page, expect

from schedgen.errors import CorruptPdfError, FileTooLargeError, NotPdfError
from tests.e2e.conftest import screenshot
from tests.e2e.test_web_flow import choose_groups, upload_all

MAX_BYTES = 10 * 1024 * 1024


def no_sideways_scroll(page: Page) -> None:
    """The page itself never scrolls sideways (the week grid scrolls inside its own box)."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"] if page.viewport_size else True, width


def test_phone_width_flow(mobile_page: Page, real_pdf_paths: dict[str, Path], screenshot_dir: Path) -> None:
    page = mobile_page
    upload_all(page, real_pdf_paths)
    screenshot(page, screenshot_dir, "mobile-1-upload", at="#file-section")
    no_sideways_scroll(page)
    page.get_by_role("button", name="See your week").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your week")
    screenshot(page, screenshot_dir, "mobile-2-choose", at="#choose-title")
    no_sideways_scroll(page)
    choose_groups(page)
    expect(page.locator("#week-status")).to_have_attribute("data-clashes", "0")
    screenshot(page, screenshot_dir, "mobile-3-week", at="#grid-title")
    no_sideways_scroll(page)
    page.get_by_role("link", name="Next: customise").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Customise your calendar")
    screenshot(page, screenshot_dir, "mobile-4-customise", at="#colour-title")
    no_sideways_scroll(page)
    page.get_by_role("button", name="Save and continue").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Get your calendar")
    expect(page.locator(".lead")).to_contain_text("21 weekly classes, 12 tests, 5 exams")
    screenshot(page, screenshot_dir, "mobile-5-get")
    no_sideways_scroll(page)


def _file(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def test_refused_files_show_plain_messages(page: Page, tmp_path: Path, screenshot_dir: Path) -> None:
    hostile = _file(tmp_path, "Lectures.pdf", os.urandom(64 * 1024))  # random bytes named .pdf
    corrupt = _file(tmp_path, "Exams.pdf", b"%PDF-1.7\n" + b"garbage " * 200 + b"\n%%EOF\n")
    large = _file(tmp_path, "Tests.pdf", b"%PDF-1.7\n" + b"0" * MAX_BYTES)  # over 10 MB
    page.goto("/")
    page.set_input_files("#files", [hostile, corrupt, large])
    files = page.locator("#file-list .file")
    expect(files).to_have_count(3)
    expect(files.nth(0)).to_contain_text(NotPdfError.default_message)  # refused by the server while streaming
    expect(files.nth(1)).to_contain_text(CorruptPdfError.default_message, timeout=30_000)  # by the parser
    expect(files.nth(2)).to_contain_text(FileTooLargeError.default_message)  # by the browser, never sent
    for index in range(3):
        expect(files.nth(index).locator(".status")).to_have_attribute("role", "alert")
    expect(page.get_by_text("Traceback")).to_have_count(0)
    expect(page.locator("#continue")).to_be_disabled()
    screenshot(page, screenshot_dir, "desktop-6-errors", at="#file-section")

    # Wrong type: a .txt file is refused before upload; removing files frees their places.
    for _ in range(3):
        files.first.get_by_role("button", name="Remove").click()
    expect(files).to_have_count(0)
    page.set_input_files("#files", _file(tmp_path, "notes.txt", b"just some notes"))
    expect(files.nth(0)).to_contain_text(NotPdfError.default_message)
    expect(files.nth(0)).to_have_class(re.compile(r"\brejected\b"))


def test_refused_file_at_phone_width(mobile_page: Page, tmp_path: Path, screenshot_dir: Path) -> None:
    page = mobile_page
    page.goto("/")
    page.set_input_files("#files", _file(tmp_path, "timetable.pdf", os.urandom(4096)))
    expect(page.locator("#file-list .file").first).to_contain_text(NotPdfError.default_message)
    screenshot(page, screenshot_dir, "mobile-6-errors", at="#file-section")
    no_sideways_scroll(page)


def test_unknown_timetable_link_is_a_friendly_404(page: Page) -> None:
    response = page.goto("/t/not-a-real-timetable-id")
    assert response is not None
    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("We cannot find that timetable")
    expect(page.get_by_role("link", name="Upload your PDFs again")).to_be_visible()
