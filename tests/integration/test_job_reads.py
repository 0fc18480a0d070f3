"""Status reads of finished jobs: the cached answer (CachedJobReads) equals the route's, in both modes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from schedgen.services import jobs as job_service
from tests.support.waiting import wait_for
from tests.support.webapps import MODES, TINY_PDF, assert_error, serve, settings_for, upload

SAME_HEADERS = ("etag", "cache-control", "content-type", "content-length")


def cache_counts(client: object) -> dict[str, float]:
    """cache_requests_total by result, as /metrics shows them."""
    text = client.get("/metrics").text  # type: ignore[attr-defined]
    found = re.findall(r'^cache_requests_total\{result="(hit|miss)"\} (\S+)$', text, re.MULTILINE)
    return {"hit": 0.0, "miss": 0.0} | {result: float(value) for result, value in found}


def requests_counted(client: object, status: int) -> float:
    """http_request_duration_seconds_count of GET /api/jobs/{job_id} with this status."""
    text = client.get("/metrics").text  # type: ignore[attr-defined]
    pattern = (
        r'http_request_duration_seconds_count\{method="GET",route="/api/jobs/\{job_id\}",status="%d"\} (\S+)'
    )
    found = re.search(pattern % status, text)
    return float(found.group(1)) if found else 0.0


@pytest.mark.parametrize("mode", MODES)
def test_cached_answer_equals_the_routes_and_each_lookup_counts_once(
    mode: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    with serve(settings_for(mode, request, tmp_path)) as client:
        job_id = upload(client).json()["jobs"][0]["id"]
        pending = client.get(f"/api/jobs/{job_id}")  # not finished: never cached, always the database
        assert pending.json()["status"] == "pending"
        job_service.process_job(client.app.state.container.jobs, job_id)  # type: ignore[attr-defined]
        before = cache_counts(client)
        counted = requests_counted(client, 200)

        first = client.get(f"/api/jobs/{job_id}")  # a miss: the route reads the database and caches it
        assert cache_counts(client) == {"hit": before["hit"], "miss": before["miss"] + 1}
        second = client.get(f"/api/jobs/{job_id}")  # a hit: answered before FastAPI's routing
        assert cache_counts(client) == {"hit": before["hit"] + 1, "miss": before["miss"] + 1}

        assert first.json()["status"] == "failed"  # TINY_PDF is no timetable
        assert second.content == first.content
        for name in SAME_HEADERS:
            assert second.headers[name] == first.headers[name], name
        assert second.headers["x-request-id"] != first.headers["x-request-id"]  # the edge middleware ran
        assert "content-security-policy" in second.headers
        assert requests_counted(client, 200) == counted + 2  # both logged under the route's template

        not_modified = client.get(f"/api/jobs/{job_id}", headers={"If-None-Match": first.headers["etag"]})
        assert (not_modified.status_code, not_modified.content) == (304, b"")
        assert not_modified.headers["etag"] == first.headers["etag"]


@pytest.mark.parametrize("mode", MODES)
def test_reads_the_cache_cannot_answer_still_reach_the_routes(
    mode: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    with serve(settings_for(mode, request, tmp_path)) as client:
        assert_error(client.get("/api/jobs/no-such-job"), 404, "NOT_FOUND")
        assert client.get("/api/jobs/metrics").json()["total"] == 0  # a route of its own, never a job id
        assert client.get("/api/jobs/a/b").status_code == 404
        job_id = upload(client, TINY_PDF).json()["jobs"][0]["id"]
        job_service.process_job(client.app.state.container.jobs, job_id)  # type: ignore[attr-defined]
        assert client.get(f"/api/jobs/{job_id}").status_code == 200  # cached from here on
        assert client.delete(f"/api/jobs/{job_id}").status_code == 204  # deleting forgets the cached answer
        assert_error(client.get(f"/api/jobs/{job_id}"), 404, "NOT_FOUND")


def test_a_job_deleted_through_one_instance_is_gone_from_another_instances_near_copy(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    settings = settings_for("distributed", request, tmp_path)
    with serve(settings) as one, serve(settings) as other:
        job_id = upload(one).json()["jobs"][0]["id"]
        job_service.process_job(one.app.state.container.jobs, job_id)  # type: ignore[attr-defined]
        near = other.app.state.container.jobs.cache.near  # type: ignore[attr-defined]
        wait_for(lambda: near.live, timeout=10)
        assert other.get(f"/api/jobs/{job_id}").status_code == 200  # read from the database, cached
        assert other.get(f"/api/jobs/{job_id}").status_code == 200  # from Redis, kept in its near copy
        assert near.documents.get(job_id) is not None
        assert one.delete(f"/api/jobs/{job_id}").status_code == 204
        wait_for(lambda: near.documents.get(job_id) is None, timeout=10)  # the change reached it
        assert_error(other.get(f"/api/jobs/{job_id}"), 404, "NOT_FOUND")
