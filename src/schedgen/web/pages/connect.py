"""The "Sync or subscribe" panel of the Get-it step: the live feed and Google Calendar, as one fragment
(loaded by htmx into the Get-it page) or one page (without JavaScript, and after form posts)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from schedgen.errors import SchedgenError
from schedgen.services import feeds, google_auth, google_sync
from schedgen.services import timetable_state as state
from schedgen.services.google_auth import GoogleDeps
from schedgen.web.middleware.session import SESSION_COOKIE, signed_owner
from schedgen.web.pages import views
from schedgen.web.pages.templating import is_htmx, render

router = APIRouter()


def timetable_deps(request: Request) -> state.TimetableDeps:
    """The timetable use cases' dependencies from the app's container."""
    container = request.app.state.container
    return state.TimetableDeps(container.settings, container.sessions, container.jobs.clock)


def google_deps(request: Request) -> GoogleDeps:
    """The Google use cases' dependencies from the app's container."""
    google: GoogleDeps = request.app.state.container.google
    return google


def session_owner(request: Request) -> str | None:
    """The browser session's owner id (from the signed session cookie), or None without a valid one."""
    return signed_owner(request.cookies.get(SESSION_COOKIE), request.app.state.guards.signer)


async def _google_context(request: Request, view: state.TimetableView) -> dict[str, Any]:
    deps = google_deps(request)
    out: dict[str, Any] = {
        "google_enabled": deps.settings.google_enabled,
        "account": None,
        "calendars": [],
        "google_error": None,
        "undo_targets": [],
        "run": None,
        "dedicated_name": "",
    }
    owner = session_owner(request)
    if not out["google_enabled"] or owner is None:
        return out
    account = await run_in_threadpool(google_auth.signed_in, deps, owner)
    if account is None:
        return out
    out["account"] = account
    try:
        calendars = await run_in_threadpool(google_sync.list_calendars, deps, account.id)
    except SchedgenError as exc:
        out["google_error"] = exc.message
        calendars = []
    names = {c.id: c.summary for c in calendars}
    ours = await run_in_threadpool(google_sync.calendars_with_events, deps, account.id)
    out["calendars"] = calendars
    out["undo_targets"] = [(cid, names.get(cid, cid), count) for cid, count in sorted(ours.items())]
    out["run"] = await run_in_threadpool(google_sync.latest_run, deps, account.id, view.id)
    out["dedicated_name"] = google_sync.dedicated_name(view, deps)
    return out


async def render_panel(
    request: Request,
    view: state.TimetableView,
    *,
    full: bool,
    new_feed: tuple[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The panel as a fragment or a whole page."""
    deps = timetable_deps(request)
    feed = await run_in_threadpool(feeds.feed_of, deps, view.id)
    terms = await run_in_threadpool(state.terms_of, deps, view)
    settings = request.app.state.container.settings
    context = {
        "view": view,
        "feed": feed,
        "missing": views.missing_dates(view, terms, deps.today()),
        "new_feed": new_feed,
        "feed_days": settings.feed_idle_days,
        "step": "get",
    }
    context.update(await _google_context(request, view))
    name = "timetable/connect.html" if full else "timetable/_connect.html"
    return render(request, name, context, status_code=status_code)


@router.get("/t/{timetable_id}/connect", response_class=HTMLResponse)
async def connect(request: Request, timetable_id: str) -> HTMLResponse:
    """The panel: a fragment for htmx, a page otherwise."""
    view = await run_in_threadpool(state.load_timetable, timetable_deps(request), timetable_id)
    if view is None:
        return render(request, "not_found.html", {}, status_code=404)
    return await render_panel(request, view, full=not is_htmx(request))
