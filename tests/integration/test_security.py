"""Security: headers, TLS-only HSTS and Secure cookies, CSRF, the request timeout, admin API, IP blocking."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter

from schedgen.web.middleware.security import CSP
from tests.support.webapps import MODES, TINY_PDF, assert_error, prime, run_async, serve, settings_for, upload

TOKEN = "s3cret-admin-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SCHEDGEN = str(Path(sys.executable).with_name("schedgen"))


def test_security_headers_on_pages_api_and_errors(tmp_path: Path) -> None:
    with serve(settings_for("embedded", None, tmp_path)) as client:  # type: ignore[arg-type]
        for response in (client.get("/health"), client.get("/api/jobs/nope"), client.get("/api/docs")):
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"
            assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
            assert "strict-transport-security" not in response.headers  # plain HTTP: no HSTS
        assert client.get("/health").headers["content-security-policy"] == CSP
        assert "'unsafe-inline'" not in CSP
        assert "script-src 'self'" in CSP


def test_hsts_and_secure_cookie_over_tls_from_a_trusted_proxy(tmp_path: Path) -> None:
    config = settings_for("embedded", None, tmp_path, trusted_proxies="10.0.0.1")  # type: ignore[arg-type]
    with serve(config, ip="10.0.0.1") as proxy:
        response = proxy.get("/api/nothing", headers={"x-forwarded-proto": "https"})
        assert response.headers["strict-transport-security"].startswith("max-age=31536000")
        assert "Secure" in response.headers["set-cookie"]
        assert "HttpOnly" in response.headers["set-cookie"]
    with serve(config.model_copy(update={"data_dir": tmp_path / "b"})) as direct:  # not a proxy: ignored
        assert (
            "strict-transport-security" not in direct.get("/", headers={"x-forwarded-proto": "https"}).headers
        )


def test_job_reads_and_probes_mint_no_session_but_uploads_do(tmp_path: Path) -> None:
    with serve(settings_for("embedded", None, tmp_path)) as client:  # type: ignore[arg-type]
        assert "set-cookie" not in client.get("/api/jobs/some-id").headers
        assert "set-cookie" not in client.get("/api/jobs/metrics").headers
        assert "set-cookie" not in client.get("/health").headers
        job = upload(client)
        assert "schedgen_session=" in job.headers["set-cookie"]
        job_id = job.json()["jobs"][0]["id"]
        assert "set-cookie" not in client.get(f"/api/jobs/{job_id}").headers  # it has one now anyway


def test_forged_session_cookie_never_owns_an_upload(tmp_path: Path) -> None:
    with serve(settings_for("embedded", None, tmp_path)) as client:  # type: ignore[arg-type]
        client.cookies.set("schedgen_session", "forged-unsigned-value")
        cookie = upload(client).headers["set-cookie"]  # the edge middleware replaced it with a signed one
        value = cookie.split(";")[0].split("=", 1)[1]
        assert value != "forged-unsigned-value"
        assert client.app.state.guards.signer.verify(value)  # type: ignore[attr-defined]


def test_upload_route_alone_mints_the_same_signed_secure_cookie(tmp_path: Path) -> None:
    """Without the edge middleware (any other stack), the upload route still signs the cookie it sets."""
    from fastapi.testclient import TestClient

    from schedgen.bootstrap import build
    from schedgen.web.app import create_app
    from schedgen.web.middleware.edge import EdgeMiddleware

    settings = settings_for("embedded", None, tmp_path)  # type: ignore[arg-type]
    container = build(settings, migrate=True)
    try:
        app = create_app(settings, container)
        app.user_middleware = [m for m in app.user_middleware if m.cls is not EdgeMiddleware]
        with TestClient(app, base_url="https://testserver") as client:
            client.cookies.set("schedgen_session", "forged-unsigned-value")
            cookie = upload(client).headers["set-cookie"]
            assert {"Secure", "HttpOnly", "SameSite=Lax"} <= {p.strip() for p in cookie.split(";")}
            value = cookie.split(";")[0].split("=", 1)[1]
            assert app.state.guards.signer.verify(value)
            client.cookies.clear()
            client.cookies.set("schedgen_session", value)
            assert "set-cookie" not in upload(client).headers  # a valid cookie is kept
    finally:
        container.close()


def test_cross_site_form_posts_are_refused_same_site_and_non_browser_pass(tmp_path: Path) -> None:
    config = settings_for("embedded", None, tmp_path, allowed_origins="https://partner.example")  # type: ignore[arg-type]
    with serve(config) as client:
        evil = upload(client, headers={"origin": "https://evil.example"})
        assert_error(evil, 403, "CSRF_FAILED")
        assert_error(upload(client, headers={"origin": "null"}), 403, "CSRF_FAILED")
        assert_error(upload(client, headers={"referer": "https://evil.example/x"}), 403, "CSRF_FAILED")
        assert upload(client, headers={"origin": "http://testserver"}).status_code == 202
        assert upload(client, headers={"origin": "https://partner.example"}).status_code == 202
        assert upload(client).status_code == 202  # curl and scripts send no Origin
        # A JSON body cannot be sent cross-site without a CORS preflight: exempt.
        json_post = client.post("/api/uploads", json={}, headers={"origin": "https://evil.example"})
        assert json_post.status_code == 400


def test_slow_request_gets_504_in_the_error_shape(tmp_path: Path) -> None:
    config = settings_for("embedded", None, tmp_path, request_timeout_s=0.3)  # type: ignore[arg-type]
    slow = APIRouter()

    @slow.get("/api/test-slow")
    async def sleepy() -> dict[str, str]:
        await asyncio.sleep(5)
        return {}

    with serve(config) as client:
        client.app.include_router(slow)  # type: ignore[attr-defined]
        response = client.get("/api/test-slow")
    assert_error(response, 504, "REQUEST_TIMEOUT")
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("mode", MODES)
def test_admin_endpoints(mode: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    config = settings_for(mode, request, tmp_path, admin_token=TOKEN)
    with serve(config) as client:
        prime(client)
        job = upload(client).json()["jobs"][0]
        assert_error(client.get("/api/admin/queue"), 401, "UNAUTHORIZED")
        queue = client.get("/api/admin/queue", headers=AUTH)
        assert queue.status_code == 200, queue.text
        assert queue.json()["counts"]["waiting"] == 1
        assert [j["id"] for j in queue.json()["waiting"]] == [job["id"]]
        retried = client.post(f"/api/admin/jobs/{job['id']}/retry", headers=AUTH)
        assert retried.status_code == 200
        assert retried.json()["status"] == "pending"
        assert client.delete(f"/api/admin/jobs/{job['id']}", headers=AUTH).status_code == 204
        assert_error(client.delete(f"/api/admin/jobs/{job['id']}", headers=AUTH), 404, "NOT_FOUND")
        assert_error(client.post(f"/api/admin/jobs/{job['id']}/retry", headers=AUTH), 404, "NOT_FOUND")
    with serve(settings_for(mode, request, tmp_path / "off")) as disabled:  # no token configured
        assert_error(disabled.get("/api/admin/queue", headers=AUTH), 404, "NOT_FOUND")


def test_finished_job_is_not_retryable(tmp_path: Path) -> None:
    config = settings_for("embedded", None, tmp_path, admin_token=TOKEN, in_process_workers=1)  # type: ignore[arg-type]
    with serve(config) as client:
        job_id = upload(client).json()["jobs"][0]["id"]
        from tests.support.waiting import wait_for

        wait_for(lambda: client.get(f"/api/jobs/{job_id}").json()["status"] == "failed")
        assert_error(client.post(f"/api/admin/jobs/{job_id}/retry", headers=AUTH), 409, "JOB_NOT_RETRYABLE")


@pytest.mark.parametrize("mode", MODES)
def test_five_failed_authentications_block_the_address_until_unblocked(
    mode: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    config = settings_for(mode, request, tmp_path, admin_token=TOKEN, trusted_proxies="203.0.113.0/24")
    attacker = {"x-forwarded-for": "192.0.2.66"}  # both come through our proxy (the test client)
    other = {"x-forwarded-for": "192.0.2.67"}
    with serve(config) as client:
        for _ in range(4):
            bad = client.get("/api/admin/queue", headers={**attacker, "Authorization": "Bearer nope"})
            assert_error(bad, 401, "UNAUTHORIZED")
        assert client.get("/api/jobs/metrics", headers=attacker).status_code == 200  # 4 failures: not yet
        assert_error(client.get("/api/admin/queue", headers=attacker), 401, "UNAUTHORIZED")  # the 5th
        blocked = client.get("/api/jobs/metrics", headers=attacker)
        assert_error(blocked, 403, "IP_BLOCKED")
        assert blocked.headers["retry-after"] == "3600"
        assert client.get("/health", headers=attacker).status_code == 200  # probes still answer
        assert client.get("/api/jobs/metrics", headers=other).status_code == 200  # only that address
        listed = client.get("/api/admin/blocked-ips", headers={**other, **AUTH}).json()
        assert [b["ip"] for b in listed] == ["192.0.2.66"]
        assert client.get("/api/admin/blocked-ips", headers={**attacker, **AUTH}).status_code == 200  # admin
        assert (
            client.delete("/api/admin/blocked-ips/192.0.2.66", headers={**other, **AUTH}).status_code == 204
        )
        assert client.get("/api/jobs/metrics", headers=attacker).status_code == 200
        again = client.delete("/api/admin/blocked-ips/192.0.2.66", headers={**other, **AUTH})
        assert_error(again, 404, "NOT_FOUND")


def test_failures_outside_the_window_do_not_block() -> None:
    from schedgen.adapters.blocklist import MemoryBlocklist, Policy

    now = [0.0]
    blocklist = MemoryBlocklist(Policy(5, 900, 3600), clock=lambda: now[0])

    async def scenario() -> list[bool]:
        results = []
        for _ in range(4):
            results.append(await blocklist.record_failure("192.0.2.5"))
        now[0] = 901.0  # the first four are now older than 15 minutes
        results.append(await blocklist.record_failure("192.0.2.5"))
        for _ in range(4):
            results.append(await blocklist.record_failure("192.0.2.5"))
        results.append(await blocklist.is_blocked("192.0.2.5"))
        now[0] += 3601  # the block lasts an hour
        results.append(await blocklist.is_blocked("192.0.2.5"))
        return results

    assert run_async(scenario()) == [False] * 8 + [True, True, False]


def test_redis_blocks_reach_other_processes_within_their_snapshot_age(tmp_path: Path, redis_url: str) -> None:
    # Two API instances: each answers from its own copy of the blocked addresses, re-read from Redis when it
    # is older than its snapshot age. Here instance B's copy lives for an hour unless the test lets it age.
    import redis.asyncio as aioredis

    from schedgen.adapters.blocklist import Policy, RedisBlocklist

    policy = Policy(max_failures=1, window_s=900, block_s=3600)
    ip = "192.0.2.88"

    async def scenario() -> list[bool]:
        a = RedisBlocklist(aioredis.Redis.from_url(redis_url), policy, 1.0)
        b = RedisBlocklist(aioredis.Redis.from_url(redis_url), policy, 1.0, snapshot_max_age_s=3600)
        try:
            seen = [await b.is_blocked(ip)]  # B reads the (empty) index: not blocked
            seen.append(await a.record_failure(ip))  # A blocks the address ...
            seen.append(await a.is_blocked(ip))  # ... and applies it at once
            seen.append(await b.is_blocked(ip))  # B does not ask Redis again while its copy is young
            b.snapshot_max_age_s = 0.0  # B's copy has aged
            seen.append(await b.is_blocked(ip))
            seen.append(await b.unblock(ip))  # an unblock through B (or `schedgen admin unblock`)
            seen.append(await b.is_blocked(ip))
            a.snapshot_max_age_s = 0.0
            seen.append(await a.is_blocked(ip))  # A sees the unblock once its copy is re-read
            return seen
        finally:
            await a.close()
            await b.close()

    assert run_async(scenario()) == [False, True, True, False, True, True, False, False]


def test_unblock_command_lifts_a_redis_block(tmp_path: Path, redis_url: str) -> None:
    from schedgen.adapters.blocklist import build_blocklist
    from schedgen.config import Settings

    settings = Settings(data_dir=tmp_path, redis_url=redis_url, auth_max_failures=1)

    async def block_then_check(action: str) -> Any:
        blocklist = build_blocklist(settings)
        try:
            if action == "block":
                return await blocklist.record_failure("192.0.2.77")
            return await blocklist.is_blocked("192.0.2.77")
        finally:
            await blocklist.close()

    assert run_async(block_then_check("block")) is True
    env = dict(os.environ, SCHEDGEN_REDIS_URL=redis_url, SCHEDGEN_DATA_DIR=str(tmp_path))
    listed = subprocess.run(
        [SCHEDGEN, "admin", "blocked"], env=env, capture_output=True, text=True, check=True
    )
    assert listed.stdout.startswith("192.0.2.77\t")
    done = subprocess.run(
        [SCHEDGEN, "admin", "unblock", "192.0.2.77"], check=False, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "192.0.2.77 unblocked" in done.stderr
    assert run_async(block_then_check("check")) is False


def test_pdf_bytes_used_in_tests_are_a_pdf() -> None:
    assert TINY_PDF.startswith(b"%PDF-")
