"""Google Calendar pages: sign-in (OAuth callback), sync, undo, progress, sign-out and delete my data."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from schedgen.errors import (
    GoogleAuthError,
    GoogleError,
    GoogleNotConfiguredError,
    GoogleSignInRequiredError,
    SchedgenError,
)
from schedgen.services import google_auth, google_sync
from schedgen.services import timetable_state as state
from schedgen.web.middleware.blocking import note_auth_failure
from schedgen.web.pages.connect import google_deps, session_owner, timetable_deps
from schedgen.web.pages.templating import is_htmx, render

log = logging.getLogger(__name__)
router = APIRouter()
NEW_CALENDAR = "new"  # the calendar choice that makes a dedicated calendar


def _back(timetable_id: str, anchor: str = "google") -> RedirectResponse:
    return RedirectResponse(f"/t/{timetable_id}/connect#{anchor}", status_code=303)


def _problem(request: Request, exc: SchedgenError, status: int = 400) -> HTMLResponse:
    return render(request, "google_problem.html", {"message": exc.message, "code": exc.code}, status)


def _redirect_uri(request: Request) -> str:
    configured = request.app.state.container.settings.google_redirect_url
    return configured or str(request.url_for("google_callback"))


@router.get("/google/signin")
async def sign_in(request: Request, t: str = "") -> Response:
    """Send the browser to Google's consent page (state and PKCE verifier kept server-side)."""
    deps = google_deps(request)
    owner = session_owner(request)
    view = await run_in_threadpool(state.load_timetable, timetable_deps(request), t)
    if view is None:
        return render(request, "not_found.html", {}, status_code=404)
    if not deps.settings.google_enabled:
        return _problem(request, GoogleNotConfiguredError(), 503)
    if owner is None:  # the session cookie was only just set: come back with it
        return RedirectResponse(f"/google/signin?t={view.id}", status_code=303)
    url = await run_in_threadpool(google_auth.start_sign_in, deps, owner, view.id, _redirect_uri(request))
    return RedirectResponse(url, status_code=303)


@router.get("/google/callback", name="google_callback")
async def callback(request: Request, state: str = "", code: str = "", error: str = "") -> Response:
    """Google sends the browser back here; a failure counts towards the address's sign-in block."""
    deps = google_deps(request)
    owner = session_owner(request)
    try:
        if error or owner is None:
            raise GoogleAuthError(
                "You did not allow access, so nothing was changed in your Google Calendar."
                if error == "access_denied"
                else None
            )
        timetable_id = await run_in_threadpool(google_auth.finish_sign_in, deps, owner, state, code)
    except GoogleAuthError as exc:
        await note_auth_failure(request)
        return _problem(request, exc)
    except GoogleError as exc:
        return _problem(request, exc, 502)
    return _back(timetable_id)


async def _account(request: Request) -> google_auth.Account:
    owner = session_owner(request)
    account = None
    if owner is not None:
        account = await run_in_threadpool(google_auth.signed_in, google_deps(request), owner)
    if account is None:
        raise GoogleSignInRequiredError()
    return account


@router.post("/t/{timetable_id}/google/sync")
async def sync(request: Request, timetable_id: str) -> Response:
    """Queue a sync into the chosen calendar (or a new dedicated one), then show its progress."""
    deps = google_deps(request)
    form = await request.form(max_files=0, max_fields=10)
    view = await run_in_threadpool(state.load_timetable, timetable_deps(request), timetable_id)
    if view is None:
        return render(request, "not_found.html", {}, status_code=404)
    try:
        account = await _account(request)
        calendar_id = str(form.get("calendar", ""))
        if calendar_id == NEW_CALENDAR or not calendar_id:
            name = google_sync.dedicated_name(view, deps)
            created = await run_in_threadpool(google_sync.create_calendar, deps, account.id, name)
            calendar_id = created.id
        await run_in_threadpool(google_sync.start_run, deps, "sync", account.id, view.id, calendar_id)
    except GoogleSignInRequiredError:
        return RedirectResponse(f"/google/signin?t={view.id}", status_code=303)
    except SchedgenError as exc:
        return _problem(request, exc, 502)
    return _back(view.id)


@router.post("/t/{timetable_id}/google/undo")
async def undo(request: Request, timetable_id: str) -> Response:
    """Queue the removal of every event this app created in one calendar."""
    deps = google_deps(request)
    form = await request.form(max_files=0, max_fields=10)
    try:
        account = await _account(request)
        calendar_id = str(form.get("calendar", ""))
        ours = await run_in_threadpool(google_sync.calendars_with_events, deps, account.id)
        if calendar_id not in ours:
            return _back(timetable_id)
        await run_in_threadpool(google_sync.start_run, deps, "undo", account.id, timetable_id, calendar_id)
    except GoogleSignInRequiredError:
        return RedirectResponse(f"/google/signin?t={timetable_id}", status_code=303)
    except SchedgenError as exc:
        return _problem(request, exc, 502)
    return _back(timetable_id)


@router.get("/t/{timetable_id}/google/runs/{sync_id}", response_class=HTMLResponse)
async def progress(request: Request, timetable_id: str, sync_id: str) -> HTMLResponse:
    """A run's progress as a fragment; htmx polls it until the run has finished."""
    account = await _account(request)
    run = await run_in_threadpool(google_sync.get_run, google_deps(request), sync_id, account.id)
    view = await run_in_threadpool(state.load_timetable, timetable_deps(request), timetable_id)
    if view is None:
        return render(request, "not_found.html", {}, status_code=404)
    response = render(request, "timetable/_run.html", {"run": run, "view": view})
    if run.finished and is_htmx(request):
        response.headers["HX-Refresh"] = "true"  # the page shows the new undo choices
    return response


@router.post("/google/signout")
async def sign_out(request: Request) -> Response:
    """Revoke our access at Google and forget the tokens (the record of created events stays, for undo)."""
    form = await request.form(max_files=0, max_fields=5)
    owner = session_owner(request)
    if owner is not None:
        await run_in_threadpool(google_auth.sign_out, google_deps(request), owner)
    return _back(str(form.get("t", "")))


@router.post("/google/delete")
async def delete_data(request: Request) -> Response:
    """Revoke our access and delete everything stored about the Google account."""
    form = await request.form(max_files=0, max_fields=5)
    owner = session_owner(request)
    if owner is not None:
        await run_in_threadpool(google_auth.delete_my_data, google_deps(request), owner)
    return _back(str(form.get("t", "")))
