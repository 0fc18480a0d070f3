"""Pages of one timetable at /t/{id}: your week and choices, customise, get the .ics."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from schedgen.domain.choices import PERIODS, Choices, choice_key, modules_of
from schedgen.domain.events import ActivityType
from schedgen.domain.preferences import (
    COLOUR_IDS,
    EXAM_HOURS,
    REMINDER_MINUTES,
    Preferences,
    clean_exam_hours,
    clean_name,
    clean_reminder,
    parse_date_range,
)
from schedgen.domain.selection import module_key
from schedgen.errors import SchedgenError, UnknownOfferingError
from schedgen.services import timetable_state as state
from schedgen.web.pages import views
from schedgen.web.pages.connect import session_owner
from schedgen.web.pages.templating import is_htmx, render

router = APIRouter()
MAX_FORM_FIELDS = 2000  # a timetable form has one field per session; far more is not a browser
_FILENAME_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")


def _deps(request: Request) -> state.TimetableDeps:
    container = request.app.state.container
    return state.TimetableDeps(container.settings, container.sessions, container.jobs.clock)


def _not_found(request: Request) -> HTMLResponse:
    return render(request, "not_found.html", {}, status_code=404)


async def _load(request: Request, timetable_id: str) -> state.TimetableView | None:
    return await run_in_threadpool(state.load_timetable, _deps(request), timetable_id)


async def _form(request: Request) -> FormData:
    return await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)


@router.post("/t/new")
async def create(request: Request) -> Response:
    """Make a timetable from the parse jobs the upload page started, then show it."""
    form = await _form(request)
    job_ids = [str(v) for v in form.getlist("job_id")]
    try:
        saved = await run_in_threadpool(
            state.create_timetable, _deps(request), job_ids, session_owner(request)
        )
    except SchedgenError as exc:
        return render(request, "not_found.html", {"message": exc.message}, status_code=400)
    return RedirectResponse(f"/t/{saved.id}", status_code=303)


@router.get("/t/{timetable_id}", response_class=HTMLResponse)
async def week(request: Request, timetable_id: str) -> HTMLResponse:
    """Step 2 and 3: your week as a grid and a list, tests and exams, and the group choices."""
    view = await _load(request, timetable_id)
    if view is None:
        return _not_found(request)
    if not view.ready:
        return render(request, "timetable/pending.html", {"view": view}, status_code=200)
    return await _render_week(request, view, dict(request.query_params))


async def _render_week(request: Request, view: state.TimetableView, values: dict[str, str]) -> HTMLResponse:
    deps = _deps(request)
    terms = await run_in_threadpool(state.terms_of, deps, view)
    filters = views.Filters.of(values, modules_of(view.events))
    context = views.week_context(view, terms, deps.today(), filters)
    context.update(view=view, step="week")
    name = "timetable/_week_form.html" if is_htmx(request) else "timetable/week.html"
    response = render(request, name, context)
    if is_htmx(request):
        response.headers["HX-Replace-Url"] = f"/t/{view.id}{filters.query()}"
    return response


def _choices_from_form(old: Choices, form: FormData) -> Choices:
    """New choices from the week form: groups, ticked sessions, included modules, period, bulk actions."""
    groups = dict(old.groups)
    for name, value in form.multi_items():
        if name.startswith("group:") and isinstance(value, str):
            module, _, kind = name.removeprefix("group:").partition(":")
            if kind in {t.value for t in ActivityType}:
                key = choice_key(module, kind)
                if value.strip():
                    groups[key] = value.strip().upper()
                else:
                    groups.pop(key, None)
    shown = {str(v) for v in form.getlist("shown")}
    keep = {str(v) for v in form.getlist("keep")}
    action = str(form.get("action", ""))
    if action == "select-all":
        keep = set(shown)
    elif action == "clear-all":
        keep = set()
    deselected = (set(old.deselected) - shown) | (shown - keep)
    modules_shown = {module_key(str(v)) for v in form.getlist("module_shown")}
    modules_kept = {module_key(str(v)) for v in form.getlist("module_keep")}
    excluded = (set(old.excluded_modules) - modules_shown) | (modules_shown - modules_kept)
    period = str(form.get("period", ""))
    return Choices(
        groups=groups,
        deselected=frozenset(deselected),
        excluded_modules=frozenset(excluded),
        period=period if period in PERIODS else old.period,
    )


@router.post("/t/{timetable_id}/choices")
async def save_choices(request: Request, timetable_id: str) -> Response:
    """Store the week form's choices; htmx gets the updated week, a plain form post a redirect."""
    view = await _load(request, timetable_id)
    if view is None:
        return _not_found(request)
    form = await _form(request)
    choices = _choices_from_form(view.choices, form)
    await run_in_threadpool(state.save_choices, _deps(request), view, choices)
    values = {k: str(form.get(k, "")) for k in ("module", "type")}
    if is_htmx(request):
        return await _render_week(request, _with(view, choices=choices), values)
    filters = views.Filters.of(values, modules_of(view.events))
    return RedirectResponse(f"/t/{view.id}{filters.query()}", status_code=303)


def _with(view: state.TimetableView, **changes: Any) -> state.TimetableView:
    return state.TimetableView(
        view.saved,
        view.files,
        changes.get("choices", view.choices),
        changes.get("preferences", view.preferences),
    )


@router.get("/t/{timetable_id}/customise", response_class=HTMLResponse)
async def customise(request: Request, timetable_id: str) -> HTMLResponse:
    """Step 4: colours, dates, holidays and recess, exam length, reminder, calendar name."""
    view = await _load(request, timetable_id)
    if view is None:
        return _not_found(request)
    deps = _deps(request)
    terms = await run_in_threadpool(state.terms_of, deps, view)
    context = views.customise_context(view, terms, deps.today())
    context.update(view=view, step="customise", exam_hours=EXAM_HOURS, reminders=REMINDER_MINUTES, errors=[])
    return render(request, "timetable/customise.html", context)


def _preferences_from_form(old: Preferences, form: FormData) -> tuple[Preferences, list[str]]:
    colours = dict(old.colours)
    dates = dict(old.dates)
    errors: list[str] = []
    for name, value in form.multi_items():
        if not isinstance(value, str):
            continue
        if name.startswith("colour:") and value in COLOUR_IDS:
            colours[module_key(name.removeprefix("colour:"))] = value
        elif name.startswith("start:"):
            code = name.removeprefix("start:").strip().upper()
            end = str(form.get(f"end:{code}", ""))
            if not value and not end:
                dates.pop(code, None)
                continue
            parsed = parse_date_range(value, end)
            if parsed is None:
                errors.append(f"The dates for {code} are not a valid range (first day, then last day).")
            else:
                dates[code] = parsed
    prefs = Preferences(
        name=clean_name(form.get("name")),
        colours=colours,
        dates=dates,
        skip_holidays=form.get("skip_holidays") == "on",
        skip_recess=form.get("skip_recess") == "on",
        exam_hours=clean_exam_hours(form.get("exam_hours", old.exam_hours)),
        reminder_minutes=clean_reminder(form.get("reminder")),
        term_year=old.term_year,
    )
    return prefs, errors


@router.post("/t/{timetable_id}/customise")
async def save_customise(request: Request, timetable_id: str) -> Response:
    """Store the calendar options, then go on to the download step."""
    view = await _load(request, timetable_id)
    if view is None:
        return _not_found(request)
    form = await _form(request)
    prefs, errors = _preferences_from_form(view.preferences, form)
    await run_in_threadpool(state.save_preferences, _deps(request), view, prefs)
    if errors:
        deps = _deps(request)
        updated = _with(view, preferences=prefs)
        terms = await run_in_threadpool(state.terms_of, deps, updated)
        context = views.customise_context(updated, terms, deps.today())
        context.update(
            view=updated, step="customise", exam_hours=EXAM_HOURS, reminders=REMINDER_MINUTES, errors=errors
        )
        return render(request, "timetable/customise.html", context, status_code=422)
    target = "customise" if form.get("next") == "stay" else "get"
    return RedirectResponse(f"/t/{view.id}/{target}", status_code=303)


@router.get("/t/{timetable_id}/get", response_class=HTMLResponse)
async def get_it(request: Request, timetable_id: str) -> HTMLResponse:
    """Step 5: exactly what the calendar will hold, the download, and the places for sync and subscribe."""
    view = await _load(request, timetable_id)
    if view is None:
        return _not_found(request)
    deps = _deps(request)
    terms = await run_in_threadpool(state.terms_of, deps, view)
    context = views.get_context(view, terms, deps.today())
    context.update(view=view, step="get")
    return render(request, "timetable/get.html", context)


def _filename(name: str) -> str:
    stem = _FILENAME_UNSAFE.sub("", name).strip().replace(" ", "-") or "timetable"
    return f"{stem[:60]}.ics"


@router.get("/t/{timetable_id}/calendar.ics")
async def download(request: Request, timetable_id: str) -> Response:
    """The .ics of exactly what the pages show, built by the core renderer."""
    view = await _load(request, timetable_id)
    if view is None:
        return _not_found(request)
    try:
        body = await run_in_threadpool(state.build_ics, _deps(request), view)
    except UnknownOfferingError as exc:
        return render(request, "not_found.html", {"message": exc.message}, status_code=422)
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{_filename(view.preferences.name)}"'},
    )
