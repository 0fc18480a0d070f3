"""Routes: upload PDFs, read, delete and count jobs."""

from __future__ import annotations

import hashlib
import json
from functools import partial

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from schedgen.adapters.cache import AsyncJobDocuments
from schedgen.domain.jobs import Job
from schedgen.errors import FileTooLargeError, JobNotFoundError
from schedgen.services import jobs as job_service
from schedgen.web.context import client_of
from schedgen.web.middleware.session import SESSION_COOKIE, owner_of, set_cookie_header, signed_owner
from schedgen.web.schemas.jobs import JobOut, QueueMetrics, UploadResponse
from schedgen.web.uploads import read_uploads

router = APIRouter(prefix="/api", tags=["jobs"])


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


@router.get(
    "/jobs/{job_id}",
    response_model=JobOut,
    responses={304: {"description": "Not modified (the ETag given in If-None-Match still matches)"}},
    summary="A job's state and, once completed, its events",
)
async def get_job(request: Request, job_id: str) -> Response:
    """The job's status, attempts, timestamps, error, and events when completed; with an ETag."""
    deps = _deps(request)
    document = job_service.peek_job_document(deps, job_id)  # in-process cache: no thread hop needed
    if document is None:
        shared: AsyncJobDocuments | None = request.app.state.job_documents  # Redis, read from this loop
        if shared is not None:
            document = await shared.get(job_id)
            job_service.count_cache_lookup(deps, document is not None)
        if document is None:
            document = await run_in_threadpool(
                partial(job_service.read_job_document, cache_missed=shared is not None), deps, job_id, _render
            )
    if document is None:
        raise JobNotFoundError()
    etag = '"' + hashlib.blake2b(document, digest_size=12).hexdigest() + '"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(document, media_type="application/json", headers=headers)


@router.delete("/jobs/{job_id}", status_code=204, summary="Delete a job and its PDF")
async def delete_job(request: Request, job_id: str) -> Response:
    """Delete the job, its result and its stored PDF."""
    if not await run_in_threadpool(job_service.delete_job, _deps(request), job_id):
        raise JobNotFoundError()
    return Response(status_code=204)
