"""Live calendar feeds through the embedded app: link once, current selection, caching, revocation, limits."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from icalendar import Calendar

from tests.integration.test_api_embedded import make_client
from tests.integration.test_pages import post_timetable
from tests.support.webapps import assert_error

FEED_LINK = re.compile(r'id="feed-https"[^>]*value="(http://testserver/feeds/([A-Za-z0-9_-]+)\.ics)"')


def make_timetable(client: TestClient, real_pdfs: dict[str, bytes]) -> str:
    """A timetable over the three real PDFs, all parsed; its id."""
    return post_timetable(client, real_pdfs).removeprefix("/t/")


def subscribe(client: TestClient, timetable_id: str) -> tuple[str, str]:
    """Press Subscribe; the feed path and its token, read from the page."""
    page = client.post(f"/t/{timetable_id}/feed")
    assert page.status_code == 200
    match = FEED_LINK.search(page.text)
    assert match, page.text
    assert f'value="webcal://testserver/feeds/{match.group(2)}.ics"' in page.text
    assert "30 days after its last check, it is deleted" in page.text  # feed_idle_days, said where it is made
    return match.group(1).removeprefix("http://testserver"), match.group(2)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with make_client(tmp_path, rate_limits=False) as test_client:
        yield test_client


@pytest.fixture
def timetable_id(client: TestClient, real_pdfs: dict[str, bytes]) -> str:
    return make_timetable(client, real_pdfs)


def _events(body: bytes) -> dict[str, Any]:
    return {str(e["UID"]): e for e in Calendar.from_ical(body).walk("VEVENT")}


def test_feed_equals_the_download_and_follows_the_selection(client: TestClient, timetable_id: str) -> None:
    path, token = subscribe(client, timetable_id)
    assert len(token) >= 43  # token_urlsafe(32): 256 bits
    feed = client.get(path)
    assert feed.status_code == 200
    assert feed.headers["content-type"].startswith("text/calendar")
    assert "max-age=900" in feed.headers["cache-control"]
    assert "set-cookie" not in feed.headers  # calendar apps get no session
    download = client.get(f"/t/{timetable_id}/calendar.ics")
    assert feed.content == download.content  # the same renderer, the same bytes
    events = _events(feed.content)
    exams = [e for e in events.values() if "Exam" in str(e["SUMMARY"])]
    assert exams
    assert all("Status: FINAL" in str(e["DESCRIPTION"]) for e in exams)
    assert all(str(e["STATUS"]) == "CONFIRMED" for e in exams)
    text = feed.content.decode()
    for personal in ("student", "@", "u2"):  # no name, email or student number
        assert personal not in text.lower().replace("@schedgen", "")

    # Changing the selection changes the feed.
    page = client.get(f"/t/{timetable_id}")
    keep = re.findall(r'name="keep" value="([^"]+)"', page.text)
    shown = re.findall(r'name="shown" value="([^"]+)"', page.text)
    assert shown
    form = {"shown": shown, "keep": [v for v in keep if v != shown[0]]}
    assert client.post(f"/t/{timetable_id}/choices", data=form, follow_redirects=False).status_code == 303
    changed = client.get(path, headers={"If-None-Match": feed.headers["etag"]})
    assert changed.status_code == 200
    assert changed.content == client.get(f"/t/{timetable_id}/calendar.ics").content
    assert len(_events(changed.content)) < len(events)


def test_etag_and_last_modified_give_304(client: TestClient, timetable_id: str) -> None:
    path, _ = subscribe(client, timetable_id)
    first = client.get(path)
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    assert etag == '"' + hashlib.sha256(first.content).hexdigest()[:32] + '"'
    again = client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert client.get(path, headers={"If-Modified-Since": modified}).status_code == 304
    assert client.get(path, headers={"If-None-Match": '"other"'}).status_code == 200
    assert client.head(path).status_code == 200


def test_revoked_feed_is_410_unknown_404_and_regenerate_replaces(
    client: TestClient, timetable_id: str
) -> None:
    old_path, old_token = subscribe(client, timetable_id)
    new_path, new_token = subscribe(client, timetable_id)  # regenerate
    assert new_token != old_token
    assert_error(client.get(old_path), 410, "FEED_REVOKED")
    assert client.get(new_path).status_code == 200
    panel = client.get(f"/t/{timetable_id}/connect")
    assert 'id="feed-status"' in panel.text
    assert new_token not in panel.text  # shown once, never again
    client.post(f"/t/{timetable_id}/feed/revoke")
    assert_error(client.get(new_path), 410, "FEED_REVOKED")
    assert_error(client.get("/feeds/" + "x" * 43 + ".ics"), 404, "FEED_NOT_FOUND")
    engine = client.app.state.container.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT token_hash FROM feeds")).scalars().all()
    assert hashlib.sha256(new_token.encode()).hexdigest() in stored
    assert new_token not in stored


def test_feeds_are_rate_limited_per_feed(tmp_path: Path, real_pdfs: dict[str, bytes]) -> None:
    with make_client(tmp_path, rate_limits=True, rate_limit_feeds="2/minute", rate_limit_uploads="100/hour",
                     rate_limit_status="10000/minute") as client:  # fmt: skip
        timetable_id = make_timetable(client, real_pdfs)
        path, _ = subscribe(client, timetable_id)
        assert client.get(path).status_code == 200
        assert client.get(path).status_code == 200
        assert_error(client.get(path), 429, "RATE_LIMITED")
        assert client.get(f"/t/{timetable_id}/calendar.ics").status_code == 200  # other routes unaffected


def test_the_get_page_loads_the_panel_and_works_without_javascript(
    client: TestClient, timetable_id: str
) -> None:
    page = client.get(f"/t/{timetable_id}/get")
    assert f'hx-get="/t/{timetable_id}/connect"' in page.text
    fragment = client.get(f"/t/{timetable_id}/connect", headers={"HX-Request": "true"})
    assert fragment.text.lstrip().startswith("<section")
    full = client.get(f"/t/{timetable_id}/connect")
    assert "<html" in full.text
    assert 'id="google-sync" disabled' in full.text  # no Google client configured
