"""Google sign-in and Calendar sync through the embedded app against the fake Google on loopback."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from fastapi.testclient import TestClient

from schedgen.services import google_sync
from schedgen.services.google_auth import GoogleDeps
from tests.integration.test_api_embedded import make_client
from tests.integration.test_feeds import make_timetable
from tests.support.fake_google import FakeGoogle
from tests.support.waiting import wait_for
from tests.support.webapps import assert_error

SUB = "1001"


@pytest.fixture
def google() -> Iterator[FakeGoogle]:
    fake = FakeGoogle().start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def client(tmp_path: Path, google: FakeGoogle) -> Iterator[TestClient]:
    with make_client(tmp_path, rate_limits=False, **google.settings()) as test_client:
        yield test_client


@pytest.fixture
def timetable_id(client: TestClient, real_pdfs: dict[str, bytes]) -> str:
    return make_timetable(client, real_pdfs)


@pytest.fixture
def sleeps(client: TestClient) -> list[float]:
    """Backoff pauses, recorded instead of slept."""
    recorded: list[float] = []
    deps(client).calendar.sleep = recorded.append
    deps(client).calendar.rand = lambda: 0.5
    return recorded


def deps(client: TestClient) -> GoogleDeps:
    google: GoogleDeps = client.app.state.container.google  # type: ignore[attr-defined]
    return google


def sign_in(client: TestClient, timetable_id: str, decision: str = "allow") -> Any:
    """The whole OAuth dance: our redirect, Google's consent page, the callback."""
    start = client.get(f"/google/signin?t={timetable_id}", follow_redirects=False)
    assert start.status_code == 303
    consent_url = start.headers["location"]
    assert "code_challenge_method=S256" in consent_url
    assert "state=" in consent_url
    page = requests.get(consent_url, timeout=5)
    assert page.status_code == 200
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page.text))
    fields = {k: v.replace("&amp;", "&") for k, v in fields.items()}
    approved = requests.post(
        consent_url.split("/o/")[0] + "/o/oauth2/v2/approve",
        data={**fields, "decision": decision},
        allow_redirects=False,
        timeout=5,
    )
    back = approved.headers["location"]
    assert back.startswith("http://testserver/google/callback?")
    return client.get(back.removeprefix("http://testserver"), follow_redirects=False)


def sync(client: TestClient, timetable_id: str, calendar: str) -> dict[str, Any]:
    """Press Sync and wait for the background run; its record."""
    response = client.post(
        f"/t/{timetable_id}/google/sync", data={"calendar": calendar}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    return finish(client, timetable_id)


def finish(client: TestClient, timetable_id: str) -> dict[str, Any]:
    def done() -> Any:
        run = google_sync.latest_run(deps(client), SUB, timetable_id)
        return run if run is not None and run.finished else None

    run = wait_for(done)
    fragment = client.get(f"/t/{timetable_id}/google/runs/{run.id}")
    assert f'data-status="{run.status}"' in fragment.text
    assert "hx-trigger" not in fragment.text  # polling stops when the run has finished
    return {"status": run.status, "counts": run.counts, "failures": run.failures, "error": run.error_code}


def test_sign_in_sync_resync_and_undo_on_the_real_fixtures(
    client: TestClient, google: FakeGoogle, timetable_id: str, sleeps: list[float]
) -> None:
    assert sign_in(client, timetable_id).status_code == 303
    panel = client.get(f"/t/{timetable_id}/connect")
    assert "student@example.com" in panel.text
    assert "ya29." not in panel.text
    assert "1//" not in panel.text
    primary = google.primary(SUB)
    google.add_event(primary, "mine00001", "Dentist")  # the student's own event
    before = {k: dict(v) for k, v in primary.live_events().items()}

    first = sync(client, timetable_id, primary.id)
    assert first["status"] == "completed", first
    ours = len(primary.live_events()) - 1
    assert ours == first["counts"]["inserted"] > 30, (first, google.ops)
    assert google.ops["batch"] >= 1
    assert google.ops["insert"] == ours
    lectures = [e for e in primary.live_events().values() if "recurrence" in e]
    assert lectures
    assert all(e["start"]["timeZone"] == "Africa/Johannesburg" for e in lectures)
    assert any(r.startswith("EXDATE;TZID=Africa/Johannesburg:") for e in lectures for r in e["recurrence"])

    # Second sync, nothing changed: no calls at all, no duplicates.
    again = sync(client, timetable_id, primary.id)
    assert again["counts"]["unchanged"] == ours
    assert google.ops["update"] == 0
    assert len(primary.live_events()) == ours + 1

    # One exam moves to another venue (identity unchanged): exactly one update.
    engine = client.app.state.container.engine  # type: ignore[attr-defined]
    with engine.begin() as conn:
        for job_id, result in conn.execute(sa.text("SELECT id, result FROM jobs")).all():
            data = result if isinstance(result, dict) else json.loads(result)
            if data.get("kind") == "exams":
                data["events"][0]["venues"] = ["NEW HALL"]
                conn.execute(
                    sa.text("UPDATE jobs SET result = :r WHERE id = :i"),
                    {"r": json.dumps(data), "i": job_id},
                )
    changed = sync(client, timetable_id, primary.id)
    assert changed["counts"]["updated"] == 1, changed
    assert changed["counts"]["inserted"] == 0, changed
    assert google.ops["update"] == 1
    assert google.ops["insert"] == ours
    assert len(primary.live_events()) == ours + 1

    # Sign out (revokes) and in again: undo still removes exactly our events.
    client.post("/google/signout", data={"t": timetable_id})
    assert google.ops["revoke"] == 1
    assert "Sign in with Google" in client.get(f"/t/{timetable_id}/connect").text
    assert sign_in(client, timetable_id).status_code == 303
    client.post(f"/t/{timetable_id}/google/undo", data={"calendar": primary.id})
    run = google_sync.latest_run(deps(client), SUB, timetable_id)
    assert run is not None
    undone = finish(client, timetable_id)
    assert undone["counts"]["deleted"] == ours
    assert primary.live_events() == before  # back to exactly what it was, the student's event untouched
    assert sleeps == []


def test_dedicated_calendar_and_resync_after_undo(
    client: TestClient, google: FakeGoogle, timetable_id: str, sleeps: list[float]
) -> None:
    sign_in(client, timetable_id)
    result = sync(client, timetable_id, "new")
    assert result["status"] == "completed"
    created = [c for c in google.calendars.values() if not c.primary]
    assert len(created) == 1
    assert re.fullmatch(r"UP \d{4} \S+", created[0].summary)
    count = len(created[0].live_events())
    client.post(f"/t/{timetable_id}/google/undo", data={"calendar": created[0].id})
    finish(client, timetable_id)
    assert created[0].live_events() == {}
    resynced = sync(client, timetable_id, created[0].id)  # ids Google remembers as deleted: 409 -> update
    assert resynced["status"] == "completed"
    assert resynced["failures"] == []
    assert len(created[0].live_events()) == count


def test_quota_errors_back_off_with_jitter_and_then_succeed(
    client: TestClient, google: FakeGoogle, timetable_id: str, sleeps: list[float]
) -> None:
    sign_in(client, timetable_id)
    google.fail_batches(2, status=503)  # whole batch requests fail twice
    google.fail(3, status=429)  # then three calls inside a batch
    google.fail(2, status=403, reason="rateLimitExceeded")
    result = sync(client, timetable_id, google.primary(SUB).id)
    assert result["status"] == "completed"
    assert result["failures"] == []
    assert sleeps[:2] == [0.75, 1.5]  # min(32, 1 * 2**n) * (0.5 + 0.5 * rand)
    assert len(sleeps) == 3


def test_quota_exhausted_is_reported_per_event(
    client: TestClient, google: FakeGoogle, timetable_id: str, sleeps: list[float]
) -> None:
    sign_in(client, timetable_id)
    deps(client).calendar.backoff = type(deps(client).calendar.backoff)(attempts=2, min_s=1, max_s=2)
    events = client.get(f"/t/{timetable_id}/calendar.ics").text.count("BEGIN:VEVENT")
    assert events <= 50  # one batch
    google.fail(events + 1, status=429)  # every call fails once, the first one on both attempts
    result = sync(client, timetable_id, google.primary(SUB).id)
    assert result["status"] == "completed"
    assert [f["code"] for f in result["failures"]] == ["GOOGLE_QUOTA"]
    assert "sync again" in client.get(f"/t/{timetable_id}/connect").text


def test_expired_access_token_is_refreshed(
    client: TestClient, google: FakeGoogle, timetable_id: str, sleeps: list[float]
) -> None:
    sign_in(client, timetable_id)
    google.advance(7200)  # Google's access token has expired; ours still looks valid: a 401, then refresh
    result = sync(client, timetable_id, google.primary(SUB).id)
    assert result["status"] == "completed"
    assert google.ops["token_refresh"] == 1
    google.advance(7200)
    engine = client.app.state.container.engine  # type: ignore[attr-defined]
    with engine.begin() as conn:  # and ours knows it has expired: refreshed before the call
        conn.execute(sa.text("UPDATE google_accounts SET expires_at = '2000-01-01 00:00:00'"))
        stored = conn.execute(sa.text("SELECT access_token, refresh_token FROM google_accounts")).one()
    assert not stored[0].startswith("ya29.")
    assert not stored[1].startswith("1//")
    client.get(f"/t/{timetable_id}/connect")
    assert google.ops["token_refresh"] == 2


def test_revoked_grant_asks_to_sign_in_again(
    client: TestClient, google: FakeGoogle, timetable_id: str, sleeps: list[float]
) -> None:
    sign_in(client, timetable_id)
    google.revoke_all(SUB)  # removed in the Google account
    google.advance(7200)
    panel = client.get(f"/t/{timetable_id}/connect")
    assert "Sign in with Google" in panel.text
    response = client.post(f"/t/{timetable_id}/google/sync", data={"calendar": "x"}, follow_redirects=False)
    assert response.headers["location"].startswith("/google/signin")


def test_failed_callbacks_are_refused_and_count_towards_the_ip_block(
    client: TestClient, google: FakeGoogle, timetable_id: str
) -> None:
    client.get(f"/google/signin?t={timetable_id}", follow_redirects=False)
    bad_state = client.get("/google/callback?state=forged&code=abc")
    assert bad_state.status_code == 400
    assert "GOOGLE_AUTH_FAILED" in bad_state.text
    denied = sign_in(client, timetable_id, decision="deny")
    assert denied.status_code == 400
    assert "did not allow access" in denied.text
    for _ in range(2):
        client.get("/google/callback?state=forged&code=abc")
    fifth = client.get("/google/callback?state=forged&code=abc")
    assert fifth.status_code in (400, 403)
    assert_error(client.get("/"), 403, "IP_BLOCKED")


def test_delete_my_data_revokes_and_forgets(
    client: TestClient, google: FakeGoogle, timetable_id: str, sleeps: list[float]
) -> None:
    sign_in(client, timetable_id)
    sync(client, timetable_id, google.primary(SUB).id)
    client.post("/google/delete", data={"t": timetable_id})
    assert google.ops["revoke"] == 1
    engine = client.app.state.container.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        for table in ("google_accounts", "google_events", "google_syncs"):
            assert conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar() == 0


def test_google_sessions_work_across_two_api_processes(
    request: pytest.FixtureRequest, tmp_path: Path, google: FakeGoogle
) -> None:
    """Distributed mode: sign in through one app, be signed in on another (Redis sessions, PostgreSQL)."""
    from tests.support.webapps import serve, settings_for

    settings = settings_for("distributed", request, tmp_path, rate_limits=False, secret_key="k" * 32,
                            token_key="Vf2zQpYQ2W7n7mC3o4H0b7m2bqg3VbqQkz2v8M0c9aY=", **google.settings())  # fmt: skip
    with serve(settings) as first, serve(settings) as second:
        first.get("/api/no-such-route")
        cookie = first.cookies.get("schedgen_session")
        assert cookie
        second.cookies.set("schedgen_session", cookie)
        timetable_id = make_timetable_stub(first)
        assert sign_in(first, timetable_id).status_code == 303
        assert "student@example.com" in second.get(f"/t/{timetable_id}/connect").text


def make_timetable_stub(client: TestClient) -> str:
    """A timetable row without parsing (enough for sign-in): inserted straight into the database."""
    import datetime as dt

    from schedgen.adapters.db import timetables

    container = client.app.state.container  # type: ignore[attr-defined]
    now = dt.datetime.now(dt.UTC)
    with container.sessions.begin() as session:
        saved = timetables.insert_timetable(
            session,
            timetable_id="stub" + "x" * 28,
            job_ids=[],
            now=now,
            expires_at=now + dt.timedelta(days=1),
        )
    return saved.id
