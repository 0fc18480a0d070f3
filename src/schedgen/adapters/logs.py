"""Log output: one JSON object per line with request, identity and job ids from contextvars; secrets redacted.

configure_logging(settings) is called by entrypoints (serve, worker); nothing here runs at import time.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import functools
import json
import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from schedgen.config import Settings

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
identity: contextvars.ContextVar[str | None] = contextvars.ContextVar("identity", default=None)
job_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("job_id", default=None)

# Attributes every LogRecord has; anything else came from `extra=` and is written as a field.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
# Extra fields whose values are never written, whatever a caller passes.
_SECRET_KEYS = re.compile(r"pass|secret|token|cookie|authori[sz]ation|session|api.?key|body|content", re.I)
# Secrets that may hide inside a message: credentials in URLs, bearer tokens, key=value pairs.
_SECRET_TEXT = (
    (re.compile(r"(?i)(://[^:/@\s]*:)[^@\s]+@"), r"\1***@"),
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1***"),
    (re.compile(r"(?i)\b(password|passwd|secret|token|cookie|api_key)(\s*[=:]\s*)[^\s,;&]+"), r"\1\2***"),
)
# One cheap search that every text needing redaction matches (most log text does not): the fast path.
_MAYBE_SECRET = re.compile(r"(?i)@|bearer|password|passwd|secret|token|cookie|api_key")
REDACTED = "***"


def redact(text: str) -> str:
    """The text with credentials (URL passwords, bearer tokens, password=...) replaced by ***."""
    if not _MAYBE_SECRET.search(text):
        return text
    for pattern, replacement in _SECRET_TEXT:
        text = pattern.sub(replacement, text)
    return text


@functools.cache
def _secret_key(key: str) -> bool:
    """True for extra fields whose values are never written (decided once per field name)."""
    return _SECRET_KEYS.search(key) is not None


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line: time, level, logger, message, context ids, extras, traceback."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a single line of JSON (never containing a newline)."""
        out: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        rid = request_id.get()
        if rid != "-":
            out["request_id"] = rid
        if (who := identity.get()) is not None:
            out["identity"] = who
        if (job := job_id.get()) is not None:
            out["job_id"] = job
        for key, value in vars(record).items():
            if key in _STANDARD or key.startswith("_"):
                continue
            out[key] = REDACTED if _secret_key(key) else _plain(value)
        if record.exc_info:
            out["exc_info"] = redact(self.formatException(record.exc_info))
        if record.stack_info:
            out["stack_info"] = redact(self.formatStack(record.stack_info))
        return json.dumps(out, ensure_ascii=False, default=str)


def _plain(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(value)} bytes>"  # never file contents
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact(str(value))


@contextmanager
def job_context(job: str) -> Iterator[None]:
    """Log lines inside carry this job id."""
    token = job_id.set(job)
    try:
        yield
    finally:
        job_id.reset(token)


def configure_logging(settings: Settings, stream: Any = None) -> logging.Handler:
    """Send every log line to stderr (or `stream`) as JSON (or text), at the configured level."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if settings.log_format == "text":
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    else:
        handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_schedgen", False) or _plain_console(h)]:
        root.removeHandler(old)  # ours from an earlier call, or the CLI's basicConfig: never two lines
    handler._schedgen = True  # type: ignore[attr-defined]  # ours to replace on the next call
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()  # uvicorn's own lines go through ours
        logging.getLogger(name).propagate = True
    return handler


def _plain_console(handler: logging.Handler) -> bool:
    """A bare StreamHandler on stderr or stdout (as logging.basicConfig makes), not a test's capture."""
    return type(handler) is logging.StreamHandler and handler.stream in (sys.stderr, sys.stdout)
