"""Live calendar feeds: GET /feeds/{token}.ics (no sign-in, cached, rate limited) and the Subscribe forms."""

from __future__ import annotations

import datetime as dt
from email.utils import format_datetime, parsedate_to_datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from schedgen.services import feeds
from schedgen.services import timetable_state as state
from schedgen.web.pages.connect import render_panel, timetable_deps

router = APIRouter()


def feed_urls(request: Request, token: str) -> tuple[str, str]:
    """The https:// (or http:// locally) and webcal:// links of a feed token."""
    settings = request.app.state.container.settings
    base = (settings.public_url or str(request.base_url)).rstrip("/")
    https = f"{base}/feeds/{token}.ics"
    return https, "webcal://" + https.split("://", 1)[1]


def _not_modified(request: Request, etag: str, last_modified: dt.datetime) -> bool:
    """RFC 9110: If-None-Match decides when present, else If-Modified-Since."""
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
        return "*" in tags or etag in tags
    since = request.headers.get("if-modified-since")
    if since:
        try:
            return last_modified <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
    return False


@router.api_route("/feeds/{token}.ics", methods=["GET", "HEAD"])
async def feed(request: Request, token: str) -> Response:
    """The timetable's current selection as .ics (404 unknown, 410 revoked, in the shared error shape)."""
    deps = timetable_deps(request)
    body = await run_in_threadpool(feeds.render_feed, deps, token)
    settings = request.app.state.container.settings
    headers = {
        "ETag": body.etag,
        "Last-Modified": format_datetime(body.last_modified, usegmt=True),
        "Cache-Control": f"private, max-age={settings.feed_max_age_s}",
        "X-Robots-Tag": "noindex",
    }
    if _not_modified(request, body.etag, body.last_modified):
        return Response(status_code=304, headers=headers)
    headers["Content-Disposition"] = 'inline; filename="timetable.ics"'
    return Response(body.body, media_type="text/calendar; charset=utf-8", headers=headers)


@router.post("/t/{timetable_id}/feed", response_class=HTMLResponse)
async def subscribe(request: Request, timetable_id: str) -> Response:
    """Make (or regenerate) the feed link and show it once: we keep only its hash."""
    deps = timetable_deps(request)
    view = await run_in_threadpool(state.load_timetable, deps, timetable_id)
    if view is None:
        return RedirectResponse(f"/t/{timetable_id}", status_code=303)
    token = await run_in_threadpool(feeds.create_feed, deps, timetable_id)
    https, webcal = feed_urls(request, token)
    return await render_panel(request, view, full=True, new_feed=(https, webcal))


@router.post("/t/{timetable_id}/feed/revoke")
async def revoke(request: Request, timetable_id: str) -> Response:
    """Switch the feed link off: calendar apps get 410 from now on."""
    await run_in_threadpool(feeds.revoke_feed, timetable_deps(request), timetable_id)
    return RedirectResponse(f"/t/{timetable_id}/connect#feed", status_code=303)
