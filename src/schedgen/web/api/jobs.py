"""Routes: upload PDFs, read, delete and count jobs."""

from __future__ import annotations

import hashlib
import json
from functools import partial

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from schedgen.adapters.cache import AsyncJobDocuments
from schedgen.domain.jobs import Job
from schedgen.errors import FileTooLargeError, JobNotFoundError
from schedgen.services import jobs as job_service
from schedgen.web.context import client_of, header_of
from schedgen.web.middleware.paths import ROUTE_KEY
from schedgen.web.middleware.session import SESSION_COOKIE, owner_of, set_cookie_header, signed_owner
from schedgen.web.schemas.jobs import JobOut, QueueMetrics, UploadResponse
from schedgen.web.uploads import read_uploads

router = APIRouter(prefix="/api", tags=["jobs"])
JOB_ROUTE = "/jobs/{job_id}"
JOB_PREFIX = "/api/jobs/"
CACHE_ASKED_KEY = "schedgen.job_cache_asked"  # set in the ASGI scope once a request's job caches were asked


def _deps(request: Request) -> job_service.JobDeps:
    deps: job_service.JobDeps = request.app.state.container.jobs
    return deps


def _owner(request: Request) -> tuple[str, bytes | None]:
    """The anonymous owner id of the request's signed session cookie; and a Set-Cookie value when it had none.

    The edge middleware has already given a visitor without a valid cookie a new one, so the Set-Cookie is
    only needed where that middleware is not installed; it is made the same way (signed; Secure over TLS).
    Only a hash of the cookie is ever stored.
    """
    signer = request.app.state.guards.signer
    owner = signed_owner(request.cookies.get(SESSION_COOKIE), signer)
    if owner is not None:
        return owner, None
    fresh = signer.new_session()
    return owner_of(fresh), set_cookie_header(fresh, secure=client_of(request.scope).tls)


@router.post("/uploads", status_code=202, response_model=UploadResponse, summary="Upload one to three PDFs")
async def upload(request: Request) -> Response:
    """Store the PDFs in field `files` and queue one parse job per file."""
    deps = _deps(request)
    settings = deps.settings
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > settings.max_upload_bytes * settings.max_files_per_upload + 65536:
        raise FileTooLargeError()
    files = await read_uploads(
        request.headers.get("content-type"),
        request.stream(),
        max_bytes=settings.max_upload_bytes,
        max_files=settings.max_files_per_upload,
    )
    owner, fresh_cookie = _owner(request)
    jobs = []
    try:
        for part in files:
            job = await run_in_threadpool(
                job_service.submit_upload, deps, owner=owner, filename=part.filename, chunks=part.chunks()
            )
            jobs.append({"id": job.id, "status": job.status.value, "filename": job.filename})
    finally:
        for part in files:
            part.close()
    # The body is UploadResponse's JSON, written directly: a model built and validated per upload cost more
    # than the rest of the response.
    response = Response(json.dumps({"jobs": jobs}).encode(), status_code=202, media_type="application/json")
    if fresh_cookie is not None:
        response.raw_headers.append((b"set-cookie", fresh_cookie))
    return response


@router.get("/jobs/metrics", response_model=QueueMetrics, summary="Jobs by state")
async def metrics(request: Request) -> QueueMetrics:
    """Waiting, active, completed, failed, delayed and total jobs."""
    return QueueMetrics.of(await run_in_threadpool(job_service.queue_counts, _deps(request)))


def _render(job: Job) -> bytes:
    return JobOut.of(job).model_dump_json().encode()


async def cached_document(scope: Scope, job_id: str) -> bytes | None:
    """A finished job's document from the in-process cache, else the shared Redis one (None: not cached).

    Each lookup is counted once; the scope remembers that the caches were asked, so a later reader of the
    same request (get_job after CachedJobReads) goes straight to the database.
    """
    state = scope["app"].state
    deps: job_service.JobDeps = state.container.jobs
    scope[CACHE_ASKED_KEY] = True
    document = job_service.peek_job_document(deps, job_id)  # in-process cache: no thread hop needed
    shared: AsyncJobDocuments | None = state.job_documents  # Redis, read from this loop
    if document is None and shared is not None:
        document = await shared.get(job_id)
        job_service.count_cache_lookup(deps, document is not None)
    return document


def document_answer(document: bytes, if_none_match: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Status, headers and body of a job document's answer: 200 with an ETag, or 304 if it still matches."""
    etag = b'"' + hashlib.blake2b(document, digest_size=12).hexdigest().encode() + b'"'
    headers = [(b"etag", etag), (b"cache-control", b"no-cache")]
    if etag.decode() in if_none_match:
        return 304, headers, b""
    headers += [(b"content-type", b"application/json"), (b"content-length", str(len(document)).encode())]
    return 200, headers, document


@router.get(
    JOB_ROUTE,
    response_model=JobOut,
    responses={304: {"description": "Not modified (the ETag given in If-None-Match still matches)"}},
    summary="A job's state and, once completed, its events",
)
async def get_job(request: Request, job_id: str) -> Response:
    """The job's status, attempts, timestamps, error, and events when completed; with an ETag."""
    document = None if request.scope.get(CACHE_ASKED_KEY) else await cached_document(request.scope, job_id)
    if document is None:  # the caches were asked and missed: the database
        document = await run_in_threadpool(
            partial(job_service.read_job_document, cache_missed=True), _deps(request), job_id, _render
        )
    if document is None:
        raise JobNotFoundError()
    status, headers, body = document_answer(document, request.headers.get("if-none-match", ""))
    response = Response(body, status_code=status)
    response.raw_headers = headers
    return response


class CachedJobReads:
    """ASGI layer: answers GET /api/jobs/{id} straight from the job cache, without FastAPI's routing.

    A status poll of a finished job is the service's most frequent request; routing it through FastAPI's
    request, dependency and response layers cost more than the answer itself. Anything else, and any job
    not in the cache, goes on to the app (the get_job route above answers the same, from the database).
    Installed inside the edge middleware, so request ids, guards, access log and security headers apply.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] == "http" and scope["method"] == "GET" and path.startswith(JOB_PREFIX):
            job_id = path[len(JOB_PREFIX) :]
            if job_id and job_id != "metrics" and "/" not in job_id:
                document = await cached_document(scope, job_id)
                if document is not None:
                    scope[ROUTE_KEY] = "/api" + JOB_ROUTE
                    status, headers, body = document_answer(document, header_of(scope, b"if-none-match"))
                    await send({"type": "http.response.start", "status": status, "headers": headers})
                    await send({"type": "http.response.body", "body": body})
                    return
        await self.app(scope, receive, send)


@router.delete("/jobs/{job_id}", status_code=204, summary="Delete a job and its PDF")
async def delete_job(request: Request, job_id: str) -> Response:
    """Delete the job, its result and its stored PDF."""
    if not await run_in_threadpool(job_service.delete_job, _deps(request), job_id):
        raise JobNotFoundError()
    return Response(status_code=204)
