"""HTML pages of the web UI: upload, your week, customise, get the calendar, privacy."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.staticfiles import StaticFiles

from schedgen.web.pages.connect import router as connect_router
from schedgen.web.pages.feeds import router as feed_router
from schedgen.web.pages.google import router as google_router
from schedgen.web.pages.home import router as home_router
from schedgen.web.pages.templating import STATIC_DIR
from schedgen.web.pages.timetables import router as timetable_router


def page_router() -> APIRouter:
    """Every page route, to include in the app."""
    router = APIRouter(include_in_schema=False)
    router.include_router(home_router)
    router.include_router(timetable_router)
    router.include_router(connect_router)  # issue 6: feeds and Google Calendar
    router.include_router(feed_router)
    router.include_router(google_router)
    return router


def static_files() -> StaticFiles:
    """Our CSS, JS and the vendored htmx, served from the package (no CDN)."""
    return StaticFiles(directory=STATIC_DIR)
