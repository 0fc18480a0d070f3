"""Pages: the upload page (start) and the privacy page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from schedgen.web.pages.templating import render

router = APIRouter()


def _retention(request: Request) -> dict[str, int]:
    settings = request.app.state.container.settings
    return {
        "blob_hours": settings.blob_max_age_s // 3600,
        "job_days": settings.job_row_retention_days,
        "timetable_days": settings.timetable_retention_days,
        "feed_days": settings.feed_idle_days,
    }


@router.get("/", response_class=HTMLResponse)
async def upload_page(request: Request) -> HTMLResponse:
    """Step 1: choose one to three timetable PDFs."""
    settings = request.app.state.container.settings
    return render(
        request,
        "home.html",
        {
            "max_files": settings.max_files_per_upload,
            "max_bytes": settings.max_upload_bytes,
            "max_mb": settings.max_upload_bytes // (1024 * 1024),
            "error": None,
        },
    )


@router.get("/privacy", response_class=HTMLResponse)
async def privacy_page(request: Request) -> HTMLResponse:
    """What is stored, and for how long."""
    return render(request, "privacy.html", _retention(request))
