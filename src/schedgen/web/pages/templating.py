"""The Jinja2 environment of the pages (built once, on first use) and the one way pages render HTML."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from schedgen.errors import (
    FileTooLargeError,
    NotPdfError,
    TooManyFilesError,
)
from schedgen.rendering.colours import GOOGLE_COLOURS

WEB_DIR = Path(__file__).resolve().parents[1]
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"
# Messages the browser shows before uploading, from the same catalogue as the server's.
CLIENT_MESSAGES = {
    "FILE_TOO_LARGE": FileTooLargeError.default_message,
    "NOT_A_PDF": NotPdfError.default_message,
    "TOO_MANY_FILES": TooManyFilesError.default_message,
}


@functools.cache
def static_url(name: str) -> str:
    """The URL of a static file with a content hash, so browsers may cache it and never see a stale one."""
    digest = hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:10]
    return f"/static/{name}?v={digest}"


@functools.cache
def environment() -> jinja2.Environment:
    """The pages' Jinja2 environment: autoescaped, strict about undefined names."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(static_url=static_url, colours=GOOGLE_COLOURS, client_messages=CLIENT_MESSAGES)
    return env


def render(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    """Render a template to an HTML response."""
    html = environment().get_template(name).render(request=request, **context)
    return HTMLResponse(html, status_code=status_code)


def is_htmx(request: Request) -> bool:
    """True when htmx made the request (it swaps part of the page)."""
    return request.headers.get("hx-request") == "true"
