"""The one table from error codes to HTTP statuses, and the one JSON shape every error response has."""

from __future__ import annotations

import datetime as dt
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope, Send

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
    # hardening (issue 5)
    "RATE_LIMITED": 429,
    "RATE_LIMITER_UNAVAILABLE": 503,
    "QUOTA_EXCEEDED": 413,
    "UNAUTHORIZED": 401,
    "IP_BLOCKED": 403,
    "CSRF_FAILED": 403,
    "REQUEST_TIMEOUT": 504,
    "NOT_READY": 503,
    "JOB_NOT_RETRYABLE": 409,
    # google + feeds (issue 6)
    "FEED_NOT_FOUND": 404,
    "FEED_REVOKED": 410,
    "GOOGLE_ERROR": 502,
    "GOOGLE_NOT_CONFIGURED": 503,
    "GOOGLE_AUTH_FAILED": 400,
    "GOOGLE_SIGN_IN_REQUIRED": 401,
    "GOOGLE_ACCESS_REVOKED": 401,
    "GOOGLE_QUOTA": 503,
    "GOOGLE_UNAVAILABLE": 502,
    "GOOGLE_REJECTED": 502,
    "GOOGLE_CALENDAR_NOT_FOUND": 404,
    "SYNC_NOT_FOUND": 404,
}
RETRY_AFTER_S = {
    "QUEUE_FULL": 30,
    "QUEUE_UNAVAILABLE": 10,
    "STORAGE_UNAVAILABLE": 10,
    "DATABASE_UNAVAILABLE": 10,
    "RATE_LIMITER_UNAVAILABLE": 10,
    "NOT_READY": 5,
    "GOOGLE_QUOTA": 120,
    "GOOGLE_UNAVAILABLE": 60,
}
HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    413: "FILE_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
}


def error_body(status: int, code: str, message: str, path: str) -> dict[str, object]:
    """The shared error body: statusCode, error, message, requestId, timestamp, path."""
    return {
        "statusCode": status,
        "error": code,
        "message": message,
        "requestId": request_id.get(),
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "path": path,
    }


def error_response(request: Request, status: int, code: str, message: str) -> JSONResponse:
    """The shared error shape as a response (with Retry-After for codes worth retrying)."""
    headers = {"Retry-After": str(RETRY_AFTER_S[code])} if code in RETRY_AFTER_S else None
    return JSONResponse(
        error_body(status, code, message, request.url.path), status_code=status, headers=headers
    )


async def send_error(
    scope: Scope, send: Send, error: SchedgenError, headers: dict[str, str] | None = None
) -> None:
    """Answer from a pure ASGI middleware with a typed error in the shared shape (status from the table)."""
    status = status_for(error)
    response = JSONResponse(error_body(status, error.code, error.message, scope.get("path", "")), status)
    extra = MutableHeaders(scope=None, raw=response.raw_headers)
    if error.code in RETRY_AFTER_S:
        extra["Retry-After"] = str(RETRY_AFTER_S[error.code])
    for name, value in (headers or {}).items():
        extra[name] = value
    await send({"type": "http.response.start", "status": status, "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})


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
