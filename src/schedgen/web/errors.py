"""The one table from error codes to HTTP statuses, and the one JSON shape every error response has."""

from __future__ import annotations

import datetime as dt
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from schedgen.errors import InputError, SchedgenError
from schedgen.web.context import request_id

log = logging.getLogger(__name__)

STATUS_BY_CODE: dict[str, int] = {
    "FILE_TOO_LARGE": 413,
    "TOO_MANY_FILES": 413,
    "NOT_A_PDF": 415,
    "BAD_UPLOAD": 400,
    "EMPTY_FILE": 400,
    "QUEUE_FULL": 503,
    "QUEUE_UNAVAILABLE": 503,
    "STORAGE_UNAVAILABLE": 503,
    "DATABASE_UNAVAILABLE": 503,
    "NOT_FOUND": 404,
    "VALIDATION_ERROR": 422,
    "INTERNAL_ERROR": 500,
}
RETRY_AFTER_S = {
    "QUEUE_FULL": 30,
    "QUEUE_UNAVAILABLE": 10,
    "STORAGE_UNAVAILABLE": 10,
    "DATABASE_UNAVAILABLE": 10,
}
HTTP_CODES = {400: "BAD_REQUEST", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "FILE_TOO_LARGE"}


def error_response(request: Request, status: int, code: str, message: str) -> JSONResponse:
    """The shared error body: statusCode, error, message, requestId, timestamp, path."""
    body = {
        "statusCode": status,
        "error": code,
        "message": message,
        "requestId": request_id.get(),
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "path": request.url.path,
    }
    headers = {"Retry-After": str(RETRY_AFTER_S[code])} if code in RETRY_AFTER_S else None
    return JSONResponse(body, status_code=status, headers=headers)


def status_for(error: SchedgenError) -> int:
    """HTTP status of a typed error: the table, else 422 for bad input, else 500."""
    return STATUS_BY_CODE.get(error.code, 422 if isinstance(error, InputError) else 500)


async def _schedgen_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SchedgenError)
    status = status_for(exc)
    if status >= 500:
        log.warning("request failed: %s", exc.code)
    return error_response(request, status, exc.code, exc.message)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = HTTP_CODES.get(exc.status_code, "HTTP_ERROR")
    return error_response(request, exc.status_code, code, str(exc.detail))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    return error_response(request, 422, "VALIDATION_ERROR", "The request is not valid.")


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s", request.url.path)
    return error_response(request, 500, "INTERNAL_ERROR", SchedgenError.default_message)


def install_error_handlers(app: FastAPI) -> None:
    """Route every error through the shared JSON shape; no stack trace ever reaches a client."""
    app.add_exception_handler(SchedgenError, _schedgen_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
