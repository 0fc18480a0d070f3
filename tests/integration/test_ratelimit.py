"""Rate limits (seeds R5, Property 5) through the middleware, in memory (embedded) and on real Redis."""

from __future__ import annotations

import logging
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schedgen.adapters.metrics import metrics_for_process
from schedgen.adapters.ratelimit import LimiterUnavailable, RateLimiter
from schedgen.config import Settings
from tests.support.webapps import MODES, assert_error, prime, run_async, serve, settings_for, upload

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def rejections(endpoint: str) -> float:
    value = metrics_for_process().registry.get_sample_value(
        "rate_limit_rejections_total", {"endpoint": endpoint}
    )
    return value or 0.0


@pytest.mark.parametrize("mode", MODES)
def test_uploads_over_the_limit_get_429_with_headers_logged_and_counted(
    mode: str, request: pytest.FixtureRequest, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = settings_for(mode, request, tmp_path, rate_limit_uploads="3/hour")
    before = rejections("uploads")
    with serve(config) as client:
        prime(client)
        first = upload(client)
        assert first.status_code == 202, first.text
        assert first.headers["x-ratelimit-limit"] == "3"
        assert first.headers["x-ratelimit-remaining"] == "2"
        assert int(first.headers["x-ratelimit-reset"]) > time.time()
        for _ in range(2):
            assert upload(client).status_code == 202
        with caplog.at_level(logging.WARNING, logger="schedgen.web.middleware.ratelimit"):
            refused = upload(client)
    body = assert_error(refused, 429, "RATE_LIMITED")
    assert "seconds" in body["message"]
    assert 3000 < int(refused.headers["retry-after"]) <= 3600
    assert refused.headers["x-ratelimit-remaining"] == "0"
    assert rejections("uploads") == before + 1
    record = next(r for r in caplog.records if r.getMessage().startswith("rate limit exceeded"))
    assert record.__dict__["endpoint"] == "uploads"
    assert record.__dict__["ip"] == "203.0.113.7"
    assert record.__dict__["path"] == "/api/uploads"


@pytest.mark.parametrize("mode", MODES)
def test_status_checks_are_limited_per_identity(
    mode: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    config = settings_for(mode, request, tmp_path, rate_limit_status="5/minute")
    with serve(config) as alice, serve(config.model_copy(), ip="198.51.100.9") as bob:
        prime(alice)
        codes = [alice.get("/api/jobs/nope").status_code for _ in range(7)]
        assert codes == [404] * 5 + [429] * 2
        assert bob.get("/api/jobs/nope").status_code == 404  # someone else is not affected


def test_session_cookie_is_signed_and_a_forged_one_is_not_an_identity(tmp_path: Path) -> None:
    config = settings_for("embedded", None, tmp_path, rate_limit_status="2/minute")  # type: ignore[arg-type]
    with serve(config) as client:
        response = client.get("/api/no-such-route")  # job reads mint no session; other requests do
        cookie = response.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=Lax" in cookie
        assert "Secure" not in cookie
        assert client.get("/api/jobs/x").status_code == 404  # known by its cookie: 1 of 2 used
        assert "set-cookie" not in client.get("/api/jobs/x").headers
        assert client.get("/api/jobs/x").status_code == 429
        client.cookies.clear()
        client.cookies.set("schedgen_session", "forged.value")
        forged = client.get("/api/jobs/x")  # not believed: counted by address (a fresh window) instead
        assert forged.status_code == 404
        assert "set-cookie" not in forged.headers


def cookieless(client: Any, **headers: str) -> int:
    """Status of a status check sent without cookies (so the client is known by its address)."""
    client.cookies.clear()
    return int(client.get("/api/jobs/x", headers=headers).status_code)


def test_x_forwarded_for_is_believed_only_from_trusted_proxies(tmp_path: Path) -> None:
    config = settings_for("embedded", None, tmp_path, rate_limit_status="1/minute")  # type: ignore[arg-type]
    with serve(config) as direct:
        assert cookieless(direct) == 404
        assert cookieless(direct, **{"x-forwarded-for": "192.0.2.1"}) == 429  # cannot pick its address
    trusted = config.model_copy(update={"trusted_proxies": "10.0.0.0/8", "data_dir": tmp_path / "d2"})
    with serve(trusted, ip="10.1.2.3") as proxy:
        for client_ip in ("192.0.2.1", "192.0.2.2"):
            assert cookieless(proxy, **{"x-forwarded-for": f"{client_ip}, 10.9.9.9"}) == 404
        assert cookieless(proxy, **{"x-forwarded-for": "192.0.2.1"}) == 429


@pytest.mark.parametrize("mode", MODES)
def test_global_cap_applies_to_everyone_together(
    mode: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    config = settings_for(mode, request, tmp_path, rate_limit_global="4/minute")
    with serve(config) as client:
        codes = [client.get("/api/jobs/metrics").status_code for _ in range(6)]
        assert codes == [200] * 4 + [429] * 2
        assert client.get("/health").status_code == 200  # probes are never limited
        assert client.get("/metrics").status_code == 200


def test_rate_limits_off_switch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHEDGEN_RATE_LIMITS", "off")
    config = Settings(data_dir=tmp_path / "data", in_process_workers=0, rate_limit_global="1/minute")
    with serve(config) as client:
        responses = [client.get("/api/jobs/x") for _ in range(5)]
    assert [r.status_code for r in responses] == [404] * 5
    assert "x-ratelimit-limit" not in responses[0].headers


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port where a server accepts connections and never answers (a hung Redis)."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        yield silent.getsockname()[1]


@pytest.mark.parametrize("fail_open", [True, False])
def test_hung_redis_fails_open_or_closed_quickly(
    tmp_path: Path, request: pytest.FixtureRequest, fail_open: bool, silent_port: int
) -> None:
    config = settings_for("distributed", request, tmp_path, rate_limit_fail_open=fail_open)
    with serve(config) as client:
        hung = RateLimiter(config.model_copy(update={"redis_url": f"redis://127.0.0.1:{silent_port}/0"}))
        client.portal.call(hung.start)  # type: ignore[union-attr]
        client.app.state.guards.limiter = hung  # type: ignore[attr-defined]
        start = time.monotonic()
        response = client.get("/api/jobs/metrics")
        assert time.monotonic() - start < 2.0
        client.portal.call(hung.close)  # type: ignore[union-attr]
    if fail_open:
        assert response.status_code == 200
    else:
        assert_error(response, 503, "RATE_LIMITER_UNAVAILABLE")


# --- Property 5: whatever the pattern of requests, each identity gets exactly min(n, limit) through.

PATTERNS = st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=30)


def _admitted(limiter: RateLimiter, pattern: list[str], run: str) -> dict[str, int]:
    async def go() -> dict[str, int]:
        await limiter.start()
        try:
            counts: dict[str, int] = {}
            for who in pattern:
                decision = await limiter.hit("uploads", f"{run}:{who}")
                counts[who] = counts.get(who, 0) + decision.allowed
                assert 0 <= decision.remaining <= decision.limit
            return counts
        finally:
            await limiter.close()

    return run_async(go())


@pytest.mark.parametrize("mode", MODES)
def test_property_5_enforcement(mode: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    config = settings_for(mode, request, tmp_path, rate_limit_uploads="4/hour")

    @settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(pattern=PATTERNS)
    def check(pattern: list[str]) -> None:
        counts = _admitted(RateLimiter(config), pattern, uuid.uuid4().hex)  # fresh keys per example
        for who in set(pattern):
            assert counts[who] == min(pattern.count(who), 4)

    check()


def test_limiter_not_started_is_unavailable() -> None:
    with pytest.raises(LimiterUnavailable):
        run_async(RateLimiter(Settings()).hit("global", "all"))
