"""Admin routes under /api/admin, behind the SCHEDGEN_ADMIN_TOKEN bearer token (404 when none is set).

A wrong or missing token counts as a failed authentication of the client's address (5 within 15 minutes
block it for an hour).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from schedgen.errors import UnauthorizedError
from schedgen.services import admin as admin_service
from schedgen.services.jobs import JobDeps
from schedgen.web.middleware.blocking import admin_token_ok, note_auth_failure
from schedgen.web.middleware.runtime import Guards
from schedgen.web.schemas.admin import BlockedIp, QueueDetailOut
from schedgen.web.schemas.jobs import JobSummary

bearer = HTTPBearer(auto_error=False, description="SCHEDGEN_ADMIN_TOKEN")


async def require_admin(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> None:
    """Let the request through only with the admin token; count anything else as a failed sign-in."""
    guards: Guards = request.app.state.guards
    if guards.settings.admin_token is None:
        raise HTTPException(404, "Not Found")
    header = f"{credentials.scheme} {credentials.credentials}" if credentials else ""
    if not admin_token_ok(guards.settings, header):
        await note_auth_failure(request)
        raise UnauthorizedError()


router = APIRouter(prefix="/api/admin", tags=["admin"], dependencies=[Depends(require_admin)])


def _deps(request: Request) -> JobDeps:
    deps: JobDeps = request.app.state.container.jobs
    return deps


def _guards(request: Request) -> Guards:
    guards: Guards = request.app.state.guards
    return guards


@router.get("/queue", response_model=QueueDetailOut, summary="Queue detail")
async def queue(request: Request) -> QueueDetailOut:
    """Counts by state and the oldest waiting, active and failed jobs."""
    return QueueDetailOut.of(await run_in_threadpool(admin_service.queue_detail, _deps(request)))


@router.post("/jobs/{job_id}/retry", response_model=JobSummary, summary="Retry a failed job")
async def retry(request: Request, job_id: str) -> JobSummary:
    """Put a failed (or stuck pending) job whose PDF is still stored back on the queue."""
    job = await run_in_threadpool(admin_service.retry_job, _deps(request), job_id)
    return JobSummary(id=job.id, status=job.status, filename=job.filename)


@router.delete("/jobs/{job_id}", status_code=204, summary="Purge a job")
async def purge(request: Request, job_id: str) -> Response:
    """Delete a job, its result and its PDF."""
    await run_in_threadpool(admin_service.purge_job, _deps(request), job_id)
    return Response(status_code=204)


@router.get("/blocked-ips", response_model=list[BlockedIp], summary="Blocked addresses")
async def blocked(request: Request) -> list[BlockedIp]:
    """Addresses blocked after repeated failed authentication, with when each block ends."""
    blocklist = _guards(request).blocklist
    return [BlockedIp.of(b) for b in await blocklist.blocked()] if blocklist else []


@router.delete("/blocked-ips/{ip}", status_code=204, summary="Unblock an address")
async def unblock(request: Request, ip: str) -> Response:
    """Lift the block of an address (404 if it was not blocked)."""
    blocklist = _guards(request).blocklist
    if blocklist is None or not await blocklist.unblock(ip):
        raise HTTPException(404, "This address is not blocked.")
    return Response(status_code=204)
