"""The schedgen command line: parse UP timetable PDFs and export them as a calendar file.

Exit codes: 0 done; 1 unexpected internal error; 2 wrong usage; 3 a PDF was rejected (its error code is
printed); 4 the output file could not be written.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from schedgen.domain.events import Timetable
from schedgen.domain.selection import Selection, unmatched_choices
from schedgen.domain.terms import DateRange, TermCalendar, offering_range
from schedgen.errors import InputError, SchedgenError
from schedgen.rendering.contract import timetable_to_dict
from schedgen.rendering.ics import CalendarOptions
from schedgen.rendering.table import render_table
from schedgen.services.calendars import build_calendar, chosen_events, terms_for
from schedgen.services.timetables import read_timetable

if TYPE_CHECKING:
    from schedgen.config import Settings

EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_REJECTED = 3
EXIT_OUTPUT = 4
MAX_FILE_BYTES = 10 * 1024 * 1024  # read at most this much (+1 byte to notice larger files)

log = logging.getLogger(__name__)


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"schedgen: {message}", err=True)
    sys.exit(code)


def _read_file(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        _fail(f"cannot read {path}: {exc.strerror or exc}", EXIT_USAGE)


def _load(paths: Sequence[Path], isolated: bool) -> list[Timetable]:
    timetables = []
    for path in paths:
        try:
            timetable = read_timetable(_read_file(path), isolated=isolated)
        except InputError as exc:
            _fail(f"{path.name}: {exc.message} [{exc.code}]", EXIT_REJECTED)
        except SchedgenError as exc:
            log.exception("could not read %s", path.name)
            _fail(f"{path.name}: {exc.message} [{exc.code}]", EXIT_INTERNAL)
        for warning in timetable.warnings:
            click.echo(
                f"warning: {path.name} page {warning.page}: {warning.message}: {warning.text}", err=True
            )
        timetables.append(timetable)
    return timetables


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="schedgen")
def main() -> None:
    """Turn University of Pretoria timetable PDFs into calendars.

    Download your Lectures, Semester Tests and Exams PDFs from the UP portal, then run
    `schedgen export Lectures.pdf Tests.pdf Exams.pdf -o timetable.ics` and import the file
    into Google Calendar, Outlook or Apple Calendar.
    """
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


FILES = click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
NO_SANDBOX = click.option(
    "--no-sandbox", is_flag=True, hidden=True, help="Parse in this process, without time and memory limits."
)


@main.command()
@FILES
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "table"]),
    default="json",
    show_default=True,
    help="json: the machine-readable event contract; table: columns for reading.",
)
@NO_SANDBOX
def parse(files: tuple[Path, ...], fmt: str, no_sandbox: bool) -> None:
    """Read timetable PDFs and print their events.

    The kind of each PDF (lectures, tests or exams) is read from its content. With one FILE the JSON
    output is {"kind": ..., "events": [...]}; with several it is a list of those, each with its "file".
    """
    timetables = _load(files, isolated=not no_sandbox)
    if fmt == "table":
        click.echo("\n".join(render_table(t) for t in timetables), nl=False)
        return
    documents = [timetable_to_dict(t) for t in timetables]
    if len(documents) == 1:
        click.echo(json.dumps(documents[0], indent=2, ensure_ascii=False))
    else:
        for path, document in zip(files, documents, strict=True):
            document["file"] = path.name
        click.echo(json.dumps(documents, indent=2, ensure_ascii=False))


def _date_choices(values: Sequence[str], option: str) -> dict[str, dt.date]:
    out = {}
    for value in values:
        offering, sep, day = value.partition("=")
        try:
            if not sep:
                raise ValueError
            out[offering.strip().upper()] = dt.date.fromisoformat(day.strip())
        except ValueError:
            raise click.BadParameter(
                f"use OFFERING=YYYY-MM-DD, e.g. S2=2026-07-13 (got {value!r})", param_hint=option
            ) from None
    return out


def _recess(values: Sequence[str]) -> tuple[DateRange, ...]:
    ranges = []
    for value in values:
        first, _, last = value.partition("..")
        try:
            ranges.append(
                DateRange(dt.date.fromisoformat(first.strip()), dt.date.fromisoformat(last.strip()), "Recess")
            )
        except ValueError:
            raise click.BadParameter(
                f"use START..END, e.g. 2026-09-21..2026-09-25 (got {value!r})", param_hint="--recess"
            ) from None
    return tuple(ranges)


@main.command()
@FILES
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="The .ics file to write.",
)
@click.option(
    "--year",
    type=int,
    help=(
        "Term year for weekly classes (default: this year; a year we have no dates for needs --from "
        "and --to)."
    ),
)
@click.option(
    "--from",
    "starts",
    multiple=True,
    metavar="OFFERING=DATE",
    help="First day of an offering, e.g. S2=2026-07-13.",
)
@click.option(
    "--to",
    "ends",
    multiple=True,
    metavar="OFFERING=DATE",
    help="Last day of an offering, e.g. S2=2026-10-16.",
)
@click.option(
    "--group",
    "groups",
    multiple=True,
    metavar="MODULE=GROUP",
    help="Keep only this group of a module for its activity type, e.g. 'COS 214=P02'.",
)
@click.option("--only", multiple=True, metavar="MODULE", help="Keep only these modules (repeatable).")
@click.option("--exclude", multiple=True, metavar="MODULE", help="Leave these modules out (repeatable).")
@click.option(
    "--no-holidays", is_flag=True, help="Keep classes on public holidays (they are skipped by default)."
)
@click.option(
    "--recess",
    multiple=True,
    metavar="START..END",
    help="A break with no classes, e.g. 2026-09-21..2026-09-25.",
)
@click.option(
    "--remind",
    type=click.IntRange(0, 10080),
    metavar="MIN",
    help="Add a reminder this many minutes before each event.",
)
@click.option(
    "--exam-hours",
    type=click.FloatRange(0.25, 12),
    default=3.0,
    show_default=True,
    help="Exam length (UP prints start times only).",
)
@click.option("--name", default="UP timetable", show_default=True, help="Calendar name.")
@NO_SANDBOX
def export(
    files: tuple[Path, ...],
    output: Path,
    year: int | None,
    starts: tuple[str, ...],
    ends: tuple[str, ...],
    groups: tuple[str, ...],
    only: tuple[str, ...],
    exclude: tuple[str, ...],
    no_holidays: bool,
    recess: tuple[str, ...],
    remind: int | None,
    exam_hours: float,
    name: str,
    no_sandbox: bool,
) -> None:
    """Write the events of timetable PDFs to one calendar (.ics) file.

    Weekly classes repeat from the first to the last day of their offering (S1, S2, Y or a quarter),
    skipping South African public holidays; tests and exams are single events.
    """
    try:
        selection = Selection.build(groups=groups, only=only, exclude=exclude)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--group") from None
    timetables = _load(files, isolated=not no_sandbox)
    events = chosen_events(timetables, selection)
    for note in unmatched_choices([e for t in timetables for e in t.events], selection):
        click.echo(f"warning: {note}", err=True)
    try:
        terms = terms_for(year, dt.date.today())
        overrides = _semester_overrides(terms, _date_choices(starts, "--from"), _date_choices(ends, "--to"))
        options = CalendarOptions(
            calendar_name=name,
            year=terms.year,
            semester_overrides=overrides,
            skip_holidays=not no_holidays,
            recess=_recess(recess),
            exam_duration=dt.timedelta(hours=exam_hours),
            reminder_minutes=remind,
        )
        calendar = build_calendar(events, terms, options)
    except InputError as exc:
        _fail(f"{exc.message} [{exc.code}]", EXIT_REJECTED)
    _write_atomically(output, calendar)
    click.echo(f"wrote {len(events)} events to {output}", err=True)


def _semester_overrides(
    terms: TermCalendar, starts: dict[str, dt.date], ends: dict[str, dt.date]
) -> dict[str, tuple[dt.date, dt.date]]:
    """Dates given with --from/--to, each completed from the term data when only one end is given."""
    out = {}
    for offering in sorted(set(starts) | set(ends)):
        try:
            default_start, default_end = offering_range(terms, offering)
        except InputError:
            if offering not in starts or offering not in ends:
                raise click.BadParameter(f"give both --from and --to for {offering}") from None
            default_start, default_end = starts[offering], ends[offering]
        first, last = starts.get(offering, default_start), ends.get(offering, default_end)
        if last < first:
            raise click.BadParameter(f"{offering} ends before it starts ({first} .. {last})")
        out[offering] = (first, last)
    return out


def _write_atomically(path: Path, content: bytes) -> None:
    """Write to a temporary file beside the target, then rename: never a half-written calendar."""
    temporary = path.with_name(f".{path.name}.partial")
    try:
        temporary.write_bytes(content)
        temporary.replace(path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        _fail(f"cannot write {path}: {exc.strerror or exc}", EXIT_OUTPUT)


@main.command()
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1, or SCHEDGEN_HOST).")
@click.option("--port", type=int, default=None, help="Port (default 8000, or SCHEDGEN_PORT).")
@click.option(
    "--workers",
    "processes",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="API processes (distributed mode; embedded mode always uses one).",
)
def serve(host: str | None, port: int | None, processes: int) -> None:
    """Run the web service.

    With no configuration it needs nothing else: SQLite, files and workers live in SCHEDGEN_DATA_DIR.
    With SCHEDGEN_DATABASE_URL, SCHEDGEN_REDIS_URL and SCHEDGEN_S3_* it is one stateless API instance;
    run `schedgen worker` for the workers.
    """
    import uvicorn

    from schedgen.adapters.logs import configure_logging
    from schedgen.adapters.memory import limit_malloc_arenas
    from schedgen.adapters.metrics import prepare_multiprocess_dir
    from schedgen.config import Settings
    from schedgen.web.app import create_app
    from schedgen.web.server import uvicorn_options

    limit_malloc_arenas()  # before any thread starts: ~10 MiB less resident memory under load
    settings = Settings()
    if settings.embedded:
        _migrate_in_child(settings)
    overrides = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    settings = settings.model_copy(update=overrides)
    configure_logging(settings)
    click.echo(
        f"schedgen serving on http://{settings.host}:{settings.port} (API docs at /api/docs)", err=True
    )
    if processes > 1 and not settings.embedded:
        os.environ.update({"SCHEDGEN_HOST": settings.host, "SCHEDGEN_PORT": str(settings.port)})
        prepare_multiprocess_dir()  # /metrics of any process then sums every process's samples
        uvicorn.run(
            "schedgen.web.app:app_from_environment",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=processes,
            **uvicorn_options(),
        )
        return
    uvicorn.run(
        create_app(settings, server=True), host=settings.host, port=settings.port, **uvicorn_options()
    )


def _migrate_in_child(settings: Settings) -> None:
    """Bring the embedded database up to date in a short-lived `schedgen db upgrade` process, so the server
    never loads Alembic (about 8 MiB it would keep for its whole life); nothing to do if it is at head."""
    import subprocess

    from schedgen.adapters.db.engine import build_engine
    from schedgen.adapters.db.revision import is_at_head

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = build_engine(settings)
    try:
        current = is_at_head(engine)
    finally:
        engine.dispose()
    if current:
        return
    done = subprocess.run([sys.executable, "-m", "schedgen.cli", "db", "upgrade"], check=False)
    if done.returncode != 0:
        _fail("could not migrate the embedded database (see the messages above)", EXIT_INTERNAL)


@main.command()
@click.option(
    "--processes", type=click.IntRange(1, 64), default=1, show_default=True, help="Worker processes."
)
@click.option(
    "--threads", type=click.IntRange(1, 64), default=2, show_default=True, help="Threads per process."
)
def worker(processes: int, threads: int) -> None:
    """Run parse workers against SCHEDGEN_REDIS_URL (any number, on any number of hosts)."""
    import signal
    import threading

    from schedgen.adapters.logs import configure_logging
    from schedgen.adapters.metrics import prepare_multiprocess_dir
    from schedgen.config import Settings
    from schedgen.worker.health import start_health_server
    from schedgen.worker.runner import supervise

    settings = Settings()
    if settings.embedded:
        _fail(
            "schedgen worker needs SCHEDGEN_REDIS_URL (embedded `schedgen serve` runs its own workers)",
            EXIT_USAGE,
        )
    configure_logging(settings)
    prepare_multiprocess_dir()  # worker processes inherit it; the health server's /metrics sums them
    start_health_server(settings, processes)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    click.echo(f"schedgen worker: {processes} process(es) x {threads} thread(s)", err=True)
    supervise(settings, processes, threads, should_stop=stop.is_set)


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply all migrations to SCHEDGEN_DATABASE_URL (or the embedded SQLite file)."""
    from sqlalchemy.exc import DBAPIError

    from schedgen.adapters.db.engine import build_engine, wait_for_database
    from schedgen.adapters.db.migrate import upgrade
    from schedgen.config import Settings

    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = build_engine(settings)
    try:
        wait_for_database(engine, settings.db_connect_retries, settings.db_connect_retry_delay_s)
        upgrade(engine)
    except SchedgenError as exc:
        _fail(f"{exc.message} [{exc.code}]", EXIT_INTERNAL)
    except DBAPIError as exc:  # e.g. the embedded file is not a SQLite database
        _fail(f"cannot migrate the database: {exc.orig}", EXIT_INTERNAL)
    finally:
        engine.dispose()
    click.echo("database is up to date", err=True)


@main.group()
def admin() -> None:
    """Operator commands: addresses blocked after failed sign-ins."""


def _admin_request(method: str, path: str) -> tuple[int, bytes]:
    """Call the local server's admin API (embedded mode keeps blocks in the server process)."""
    import urllib.error
    import urllib.request

    from schedgen.config import Settings

    settings = Settings()
    if settings.admin_token is None:
        _fail("embedded mode: set SCHEDGEN_ADMIN_TOKEN (the server's) to reach its admin API", EXIT_USAGE)
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host  # noqa: S104
    request = urllib.request.Request(
        f"http://{host}:{settings.port}{path}",
        method=method,
        headers={"Authorization": f"Bearer {settings.admin_token.get_secret_value()}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return 404, b""
        _fail(f"the server answered {exc.code}", EXIT_INTERNAL)
    except OSError as exc:
        _fail(f"cannot reach the server at {host}:{settings.port}: {exc}", EXIT_INTERNAL)


def _blocklist_call(action: str, ip: str | None = None) -> object:
    import asyncio

    from schedgen.adapters.blocklist import build_blocklist
    from schedgen.config import Settings

    async def run() -> object:
        blocklist = build_blocklist(Settings())
        try:
            if action == "unblock":
                return await blocklist.unblock(ip or "")
            return await blocklist.blocked()
        finally:
            await blocklist.close()

    return asyncio.run(run())


@admin.command("unblock")
@click.argument("ip")
def admin_unblock(ip: str) -> None:
    """Lift the block of IP (in Redis; in embedded mode through the running server's admin API)."""
    from urllib.parse import quote

    from schedgen.config import Settings

    if Settings().embedded:
        status, _ = _admin_request("DELETE", f"/api/admin/blocked-ips/{quote(ip, safe='')}")
        was_blocked = status == 204
    else:
        was_blocked = bool(_blocklist_call("unblock", ip))
    click.echo(f"{ip} unblocked" if was_blocked else f"{ip} was not blocked", err=True)


@admin.command("blocked")
def admin_blocked() -> None:
    """List blocked addresses and when each block ends (UTC)."""
    import datetime as dt

    from schedgen.config import Settings

    if Settings().embedded:
        for item in json.loads(_admin_request("GET", "/api/admin/blocked-ips")[1] or b"[]"):
            click.echo(f"{item['ip']}\t{item['until']}")
        return
    blocks = _blocklist_call("blocked")
    assert isinstance(blocks, list)
    for block in blocks:
        click.echo(f"{block.ip}\t{dt.datetime.fromtimestamp(block.until, dt.UTC).isoformat()}")


if __name__ == "__main__":  # `python -m schedgen.cli`, as the embedded server runs its migration
    main()
