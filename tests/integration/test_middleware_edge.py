"""The one middleware layer (web/middleware/edge.py): what each guard's answer carries, caches, the 500."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from starlette.types import Message, Receive, Send

from schedgen.adapters.metrics import build_metrics
from schedgen.config import Settings
from schedgen.web.api.jobs import CachedJobReads
from schedgen.web.app import create_app
from schedgen.web.context import client_of
from schedgen.web.middleware import session as session_module
from schedgen.web.middleware.edge import EdgeMiddleware
from schedgen.web.middleware.runtime import Guards
from schedgen.web.middleware.session import IDENTITY_KEY, owner_of
from tests.support.webapps import assert_error, run_async, serve, settings_for, upload

SECURITY = ("x-content-type-options", "referrer-policy", "content-security-policy")
Scope = dict[str, Any]


def names(response: Any) -> list[str]:
    """Response header names in the order they were sent."""
    return [name.decode().lower() for name, _ in response.headers.raw]


def test_the_app_has_one_middleware_layer_around_the_cached_job_reads(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path / "data"))
    layers = [m.cls for m in app.user_middleware]
    assert layers == [EdgeMiddleware, CachedJobReads]  # type: ignore[comparison-overlap]


def test_admitted_upload_headers_in_the_order_the_stacked_layers_added_them(tmp_path: Path) -> None:
    with serve(settings_for("embedded", None, tmp_path)) as client:  # type: ignore[arg-type]
        response = upload(client)
    assert response.status_code == 202
    order = names(response)
    limit, cookie = order.index("x-ratelimit-limit"), order.index("set-cookie")
    assert order[limit : limit + 3] == ["x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"]
    assert limit < cookie < order.index("x-content-type-options") < order.index("content-security-policy")
    assert order[-1] == "x-request-id"


def test_refusals_carry_what_they_carried_before(tmp_path: Path) -> None:
    config = settings_for("embedded", None, tmp_path, rate_limit_global="2/minute")  # type: ignore[arg-type]
    with serve(config) as client:
        csrf = upload(client, headers={"origin": "https://evil.example"})  # a first visit, cross-site
        body = assert_error(csrf, 403, "CSRF_FAILED")
        assert body["path"] == "/api/uploads"
        assert "x-ratelimit-limit" in csrf.headers  # admitted by the upload limit, then refused
        assert "schedgen_session=" in csrf.headers["set-cookie"]  # the new session is still given
        assert client.get("/privacy").status_code == 200
        client.cookies.clear()
        limited = client.get("/privacy")  # over the global cap, without a session
    assert_error(limited, 429, "RATE_LIMITED")
    assert "schedgen_session=" in limited.headers["set-cookie"]
    assert all(name in limited.headers for name in SECURITY)


def test_unhandled_error_is_500_with_security_headers_and_no_cookie(tmp_path: Path) -> None:
    broken = APIRouter()

    @broken.post("/api/test-broken")
    async def boom() -> None:
        raise RuntimeError("kaput")

    with serve(settings_for("embedded", None, tmp_path)) as client:  # type: ignore[arg-type]
        client.app.include_router(broken)  # type: ignore[attr-defined]
        response = client.post("/api/test-broken")  # a first visit: would be given a session
    assert_error(response, 500, "INTERNAL_ERROR")
    assert "set-cookie" not in response.headers
    assert "x-ratelimit-limit" not in response.headers
    assert all(name in response.headers for name in SECURITY)  # new: the stacked layers sent none here


def test_timeout_error_from_a_route_is_504_only_under_a_time_limit(tmp_path: Path) -> None:
    failing = APIRouter()

    @failing.get("/api/test-timeout-error")
    async def times_out() -> None:
        raise TimeoutError

    for seconds, status, code in ((30.0, 504, "REQUEST_TIMEOUT"), (0.0, 500, "INTERNAL_ERROR")):
        config = settings_for("embedded", None, tmp_path / str(seconds), request_timeout_s=seconds)  # type: ignore[arg-type]
        with serve(config) as client:
            client.app.include_router(failing)  # type: ignore[attr-defined]
            assert_error(client.get("/api/test-timeout-error"), status, code)


def test_time_running_out_after_the_answer_started_reaches_the_server(tmp_path: Path) -> None:
    slow = APIRouter()

    @slow.get("/api/test-slow-stream")
    async def stream() -> StreamingResponse:
        async def chunks() -> Any:
            yield b"first"
            await asyncio.sleep(5)
            yield b"never"

        return StreamingResponse(chunks())

    config = settings_for("embedded", None, tmp_path, request_timeout_s=0.3)  # type: ignore[arg-type]
    with serve(config) as client:
        client.app.include_router(slow)  # type: ignore[attr-defined]
        with pytest.raises(TimeoutError):
            client.get("/api/test-slow-stream")


# --- The layer called directly, around a small app that reports what it saw.


async def _call(app: EdgeMiddleware, headers: list[tuple[bytes, bytes]], peer: str = "203.0.113.7") -> Scope:
    """Send one GET through `app`; the scope the inner app saw, with the response start under 'sent'."""
    scope: Scope = {
        "type": "http",
        "method": "GET",
        "path": "/api/jobs/x",
        "scheme": "http",
        "client": (peer, 50000),
        "headers": headers,
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return scope | {"sent": sent[0]}


async def _inner(scope: Any, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


def _run_with_edge(settings: Settings, scenario: Callable[[EdgeMiddleware, Guards], Awaitable[Any]]) -> Any:
    async def go() -> Any:
        guards = Guards.build(settings, build_metrics())
        await guards.start()
        try:
            return await scenario(EdgeMiddleware(_inner, guards), guards)
        finally:
            await guards.close()

    return run_async(go())


def test_a_cached_session_check_still_tells_valid_from_forged(tmp_path: Path) -> None:
    async def scenario(edge: EdgeMiddleware, guards: Guards) -> None:
        value = guards.signer.new_session()
        good = [(b"cookie", b"a=1; schedgen_session=" + value.encode())]
        for _ in range(3):  # parsed once, then remembered: the same answer every time
            assert (await _call(edge, list(good)))[IDENTITY_KEY] == owner_of(value)
        forged = [(b"cookie", b"a=1; schedgen_session=" + value[:-2].encode() + b"xx")]
        assert (await _call(edge, forged))[IDENTITY_KEY] == "ip:203.0.113.7"
        two_headers = [(b"cookie", b"a=1"), (b"cookie", b"schedgen_session=" + value.encode())]
        assert (await _call(edge, two_headers))[IDENTITY_KEY] == owner_of(value)

    _run_with_edge(Settings(data_dir=tmp_path / "data", rate_limits=False), scenario)


def test_session_cache_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session_module, "OWNER_CACHE_SIZE", 4)

    async def scenario(edge: EdgeMiddleware, guards: Guards) -> None:
        values = [guards.signer.new_session() for _ in range(10)]
        for value in values:
            scope = await _call(edge, [(b"cookie", b"schedgen_session=" + value.encode())])
            assert scope[IDENTITY_KEY] == owner_of(value)
        assert len(edge.sessions._owners) <= 4
        first = await _call(edge, [(b"cookie", b"schedgen_session=" + values[0].encode())])
        assert first[IDENTITY_KEY] == owner_of(values[0])  # forgotten, so checked again

    _run_with_edge(Settings(data_dir=tmp_path / "data", rate_limits=False), scenario)


def test_clients_behind_proxies_are_resolved_per_forwarding_headers(tmp_path: Path) -> None:
    async def scenario(edge: EdgeMiddleware, guards: Guards) -> None:
        async def seen(peer: str, *headers: tuple[bytes, bytes]) -> tuple[str, bool, str]:
            scope = await _call(edge, list(headers), peer=peer)
            rid = dict(scope["sent"]["headers"])[b"x-request-id"].decode()
            client = client_of(scope)
            return client.ip, client.tls, rid

        forwarded = (b"x-forwarded-for", b"192.0.2.1")
        https = (b"x-forwarded-proto", b"https")
        given_id = (b"x-request-id", b"abc-123")
        for _ in range(2):  # the second time from the cache
            assert (await seen("10.0.0.1", forwarded))[:2] == ("192.0.2.1", False)
            assert await seen("10.0.0.1", forwarded, https, given_id) == ("192.0.2.1", True, "abc-123")
            assert (await seen("10.0.0.1", (b"x-forwarded-for", b"192.0.2.2")))[0] == "192.0.2.2"
            ip, tls, rid = await seen("198.51.100.4", forwarded, https, given_id)  # not a proxy
            assert (ip, tls) == ("198.51.100.4", False)
            assert rid != "abc-123"
            assert len(rid) == 32
        long_chain = (b"x-forwarded-for", b", ".join([b"192.0.2.9"] * 40))  # too long to be remembered
        assert (await seen("10.0.0.1", long_chain))[0] == "192.0.2.9"

    settings = Settings(data_dir=tmp_path / "data", rate_limits=False, trusted_proxies="10.0.0.0/8")
    _run_with_edge(settings, scenario)


def test_a_response_keeps_its_own_security_headers(tmp_path: Path) -> None:
    async def own_csp(scope: Any, receive: Receive, send: Send) -> None:
        headers = [(b"Content-Security-Policy", b"default-src 'none'")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    async def scenario(edge: EdgeMiddleware, guards: Guards) -> None:
        edge.app = own_csp
        sent = (await _call(edge, []))["sent"]["headers"]
        csp = [value for name, value in sent if name.lower() == b"content-security-policy"]
        assert csp == [b"default-src 'none'"]
        assert (b"x-content-type-options", b"nosniff") in sent

    _run_with_edge(Settings(data_dir=tmp_path / "data", rate_limits=False), scenario)
