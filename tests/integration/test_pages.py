"""The HTML pages through the embedded app: upload page, week, choices (htmx and plain), customise, download."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from icalendar import Calendar

from schedgen.adapters.termdata import available_years
from tests.integration.test_api_embedded import finished, make_client
from tests.support.waiting import wait_for


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with make_client(tmp_path, rate_limits=False) as test_client:
        yield test_client


@pytest.fixture
def timetable(client: TestClient, real_pdfs: dict[str, bytes]) -> str:
    """A timetable over the three real PDFs, all parsed; its URL path."""
    return post_timetable(client, real_pdfs)


def post_timetable(client: TestClient, real_pdfs: dict[str, bytes]) -> str:
    """Upload the three real PDFs, wait until they are parsed, make a timetable of them; its URL path."""
    ids = []
    for kind, data in real_pdfs.items():
        response = client.post("/api/uploads", files=[("files", (f"{kind}.pdf", data, "application/pdf"))])
        ids.append(response.json()["jobs"][0]["id"])
    for job_id in ids:
        wait_for(lambda job_id=job_id: finished(client, job_id))
    response = client.post("/t/new", data={"job_id": ids}, follow_redirects=False)
    assert response.status_code == 303
    location: str = response.headers["location"]
    assert re.fullmatch(r"/t/[A-Za-z0-9_-]{32}", location)
    return location


def test_upload_and_privacy_pages_are_plain_html_with_our_assets(client: TestClient) -> None:
    home = client.get("/")
    assert home.status_code == 200
    assert home.headers["content-type"].startswith("text/html")
    assert 'accept=".pdf,application/pdf"' in home.text
    assert "This file is too large" in home.text  # the client-side messages come from the error catalogue
    assert "https://" not in home.text  # nothing from other sites
    for asset in re.findall(r'(?:href|src)="(/static/[^"?]+)\?v=[0-9a-f]{10}"', home.text):
        assert client.get(asset).status_code == 200
    privacy = client.get("/privacy")
    assert "24 hours" in privacy.text
    assert "30 days after its last check" in " ".join(privacy.text.split())  # a live feed's timetable
    assert "7 days" in privacy.text


def test_our_css_and_js_stay_small(client: TestClient) -> None:
    ours = sum(len(client.get(f"/static/{name}").content) for name in ("app.css", "upload.js"))
    assert ours < 100_000


def test_week_page_lists_choices_grid_and_tests(client: TestClient, timetable: str) -> None:
    page = client.get(timetable)
    assert page.status_code == 200
    assert 'id="week-status"' in page.text
    assert 'data-open="5"' in page.text
    assert page.text.count('class="block ') == 30  # every group shown until chosen
    assert "COS 284 Test2" in page.text
    assert "Sync to Google Calendar" not in page.text


def test_htmx_choice_returns_the_fragment_and_keeps_filters_in_the_url(
    client: TestClient, timetable: str
) -> None:
    response = client.post(
        f"{timetable}/choices",
        data={"group:COS226:practical": "P02", "module": "COS226", "type": ""},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert "<html" not in response.text
    assert response.headers["hx-replace-url"] == f"{timetable}?module=COS226"
    assert 'data-open="4"' in response.text
    assert response.text.count('class="block ') == 4  # COS 226: three lectures and the chosen practical


def test_plain_form_post_redirects_and_bulk_clear_leaves_sessions_out(
    client: TestClient, timetable: str
) -> None:
    page = client.get(f"{timetable}?type=exam")
    shown = re.findall(r'name="shown" value="([0-9a-f]{12})"', page.text)
    assert len(shown) == 5
    response = client.post(
        f"{timetable}/choices",
        data={"shown": shown, "action": "clear-all", "type": "exam"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"{timetable}?type=exam"
    assert "0 exams chosen" in client.get(timetable).text


def test_customise_then_download_matches_the_screen(client: TestClient, timetable: str) -> None:
    form = {
        "name": "My S2",
        "colour:COS214": "11",
        "reminder": "30",
        "exam_hours": "2",
        "skip_holidays": "on",
    }
    response = client.post(f"{timetable}/customise", data=form, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"{timetable}/get"
    page = client.get(f"{timetable}/get")
    assert "30 weekly classes, 12 tests, 5 exams" in page.text
    ics = client.get(f"{timetable}/calendar.ics")
    assert ics.headers["content-type"].startswith("text/calendar")
    assert ics.headers["content-disposition"] == 'attachment; filename="My-S2.ics"'
    events = Calendar.from_ical(ics.content).walk("VEVENT")
    assert len(events) == 30 + 12 + 5
    exam = next(e for e in events if str(e["SUMMARY"]) == "COS 214 Exam")
    assert exam.decoded("DTEND") - exam.decoded("DTSTART") == dt.timedelta(hours=2)
    assert str(exam["COLOR"]) == "red"
    lecture = next(e for e in events if str(e["SUMMARY"]) == "COS 214 L1")
    assert [d.dt.date() for d in lecture["EXDATE"].dts] == [dt.date(2026, 8, 10)]  # Women's Day (observed)
    client.post(f"{timetable}/customise", data={**form, "skip_holidays": ""})
    again = Calendar.from_ical(client.get(f"{timetable}/calendar.ics").content).walk("VEVENT")
    assert "EXDATE" not in next(e for e in again if str(e["SUMMARY"]) == "COS 214 L1")
    customise = client.get(f"{timetable}/customise")
    assert 'value="My S2"' in customise.text


def test_bad_dates_are_refused_with_a_message(client: TestClient, timetable: str) -> None:
    response = client.post(
        f"{timetable}/customise",
        data={"start:S2": "2026-10-16", "end:S2": "2026-07-13", "skip_holidays": "on"},
    )
    assert response.status_code == 422
    assert "not a valid range" in response.text


def test_unknown_timetable_and_bad_creation_are_html_pages(client: TestClient) -> None:
    missing = client.get("/t/no-such-timetable")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert "We cannot find that timetable" in missing.text
    assert client.get("/t/no-such-timetable/calendar.ics").status_code == 404
    bad = client.post("/t/new", data={"job_id": "00000000-0000-0000-0000-000000000000"})
    assert bad.status_code == 400
    assert "There is no such job" in bad.text
    assert "Traceback" not in bad.text


def test_a_timetable_is_made_only_of_the_sessions_own_jobs(
    tmp_path: Path, real_pdfs: dict[str, bytes]
) -> None:
    with make_client(tmp_path, in_process_workers=0, rate_limits=False) as owner:
        job = owner.post("/api/uploads", files=[("files", ("e.pdf", real_pdfs["exams"], "application/pdf"))])
        job_id = job.json()["jobs"][0]["id"]
        stranger = TestClient(owner.app, base_url=str(owner.base_url))  # same server, a session of its own
        stranger.get("/health")
        stolen = stranger.post("/t/new", data={"job_id": job_id}, follow_redirects=False)
        assert stolen.status_code == 400
        assert "There is no such job" in stolen.text
        mine = owner.post("/t/new", data={"job_id": job_id}, follow_redirects=False)
        assert mine.status_code == 303


def test_pending_files_show_a_refreshing_page(tmp_path: Path, real_pdfs: dict[str, bytes]) -> None:
    with make_client(tmp_path, in_process_workers=0, rate_limits=False) as idle:
        job = idle.post("/api/uploads", files=[("files", ("e.pdf", real_pdfs["exams"], "application/pdf"))])
        location = idle.post("/t/new", data={"job_id": job.json()["jobs"][0]["id"]}, follow_redirects=False)
        page = idle.get(location.headers["location"])
    assert page.status_code == 200
    assert 'http-equiv="refresh"' in page.text
    assert "being read" in page.text


def test_a_year_without_bundled_dates_asks_for_them_and_uses_no_other_years(
    tmp_path: Path, real_pdfs: dict[str, bytes]
) -> None:
    year = available_years()[-1] + 1  # what the UI takes once the bundled dates have run out
    with make_client(tmp_path, rate_limits=False, term_year=year) as client:
        timetable = post_timetable(client, real_pdfs)
        customise = client.get(f"{timetable}/customise")
        assert f"We do not have UP's {year} semester dates yet" in customise.text
        assert 'id="start-S2" name="start:S2" value=""' in customise.text  # no default from another year
        page = client.get(f"{timetable}/get")
        assert "We have no dates for classes offered in S2" in page.text
        assert 'id="download"' not in page.text
        assert client.get(f"{timetable}/calendar.ics").status_code == 422
        panel = client.get(f"{timetable}/connect")
        assert 'id="connect-missing"' in panel.text
        assert 'id="subscribe" disabled' in panel.text  # no feed that calendar apps could not read
        form = {"start:S2": f"{year}-07-12", "end:S2": f"{year}-10-15", "skip_holidays": "on"}
        assert client.post(f"{timetable}/customise", data=form, follow_redirects=False).status_code == 303
        panel = client.get(f"{timetable}/connect")
        assert 'id="connect-missing"' not in panel.text
        assert 'id="subscribe">' in panel.text
        events = Calendar.from_ical(client.get(f"{timetable}/calendar.ics").content).walk("VEVENT")
        lecture = next(e for e in events if str(e["SUMMARY"]) == "COS 214 L1")
        first = lecture.decoded("DTSTART").date()  # the first Monday from the first day given
        assert first.weekday() == 0
        assert dt.date(year, 7, 12) <= first < dt.date(year, 7, 19)
