"""Google sign-in, sync and the live feed in the real browser, against the fake Google on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from icalendar import Calendar
from playwright.sync_api import Page, expect

from tests.e2e.conftest import serve_app
from tests.support.fake_google import FakeGoogle
from tests.support.waiting import wait_for


@pytest.fixture(scope="module")
def google() -> Iterator[FakeGoogle]:
    fake = FakeGoogle().start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture(scope="module")
def google_server(tmp_path_factory: pytest.TempPathFactory, google: FakeGoogle) -> Iterator[str]:
    """The embedded app with Google pointed at the fake, in a uvicorn subprocess."""
    settings = {f"SCHEDGEN_{k.upper()}": str(v) for k, v in google.settings().items()}
    with serve_app(tmp_path_factory.mktemp("e2e-google"), settings) as url:
        yield url


def _timetable(url: str, real_pdf_paths: dict[str, Path]) -> str:
    files = [("files", (p.name, p.read_bytes(), "application/pdf")) for p in real_pdf_paths.values()]
    with requests.Session() as uploader:  # keeps the session cookie: a timetable is made of one's own jobs
        jobs = uploader.post(f"{url}/api/uploads", files=files, timeout=30).json()["jobs"]
        for job in jobs:
            wait_for(lambda job=job: uploader.get(f"{url}/api/jobs/{job['id']}", timeout=5).json()["status"]
                     in ("completed", "failed"))  # fmt: skip
        created = uploader.post(
            f"{url}/t/new", data={"job_id": [j["id"] for j in jobs]}, allow_redirects=False, timeout=10
        )
    return str(created.headers["location"])


def test_sign_in_sync_and_subscribe_in_the_browser(
    page: Page, google_server: str, google: FakeGoogle, real_pdf_paths: dict[str, Path]
) -> None:
    timetable = _timetable(google_server, real_pdf_paths)
    page.goto(f"{google_server}{timetable}/get")
    page.get_by_role("link", name="Sign in with Google to sync").click()

    # Google's consent page (the fake), then back to us.
    expect(page.get_by_role("heading", level=1)).to_contain_text("wants to access your Google Account")
    page.get_by_role("button", name="Allow").click()
    expect(page.locator("#google-account")).to_contain_text("student@example.com")

    primary = google.primary("1001")
    page.select_option("#calendar", primary.id)
    page.get_by_role("button", name="Sync to Google Calendar").click()
    expect(page.locator("#run")).to_contain_text("Sync finished", timeout=30_000)
    synced = len(primary.live_events())
    assert synced > 30
    expect(page.get_by_role("button", name="Undo import")).to_be_visible()

    # The live feed: shown once, fetched like a calendar app would, equal to the download.
    page.get_by_role("button", name="Subscribe (live feed)").click()
    link = page.locator("#feed-https").input_value()
    assert page.locator("#feed-webcal").input_value() == "webcal://" + link.split("://", 1)[1]
    feed = requests.get(link, timeout=10)
    download = requests.get(f"{google_server}{timetable}/calendar.ics", timeout=10)
    assert feed.status_code == 200
    assert Calendar.from_ical(feed.content).to_ical() == Calendar.from_ical(download.content).to_ical()

    page.get_by_role("button", name="Undo import").first.click()
    expect(page.locator("#run")).to_contain_text("Undo finished", timeout=30_000)
    assert primary.live_events() == {}
