"""Quotas (seeds R11): stored bytes per user, with a message stating usage and limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from schedgen.errors import QuotaExceededError
from tests.support.webapps import MODES, TINY_PDF, assert_error, prime, serve, settings_for, upload


@pytest.mark.parametrize("mode", MODES)
def test_storage_quota_refuses_with_usage_and_limit(
    mode: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    limit = 2 * len(TINY_PDF) + 100  # room for two uploads
    config = settings_for(mode, request, tmp_path, max_stored_bytes_per_user=limit)
    with serve(config) as client:
        prime(client)
        assert upload(client).status_code == 202
        assert upload(client).status_code == 202
        body = assert_error(upload(client), 413, "QUOTA_EXCEEDED")
        assert body["message"].startswith(
            "Storage quota exceeded: you have 4 KB stored and this upload adds 2 KB"
        )
        assert "the limit is 4 KB" in body["message"]
        client.cookies.clear()
        prime(client)  # a new session is another user, with a quota of their own
        assert upload(client).status_code == 202


@pytest.mark.parametrize("mode", MODES)
def test_deleting_a_job_frees_its_room(mode: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    config = settings_for(mode, request, tmp_path, max_stored_bytes_per_user=len(TINY_PDF))
    with serve(config) as client:
        prime(client)
        first = upload(client).json()["jobs"][0]["id"]
        assert_error(upload(client), 413, "QUOTA_EXCEEDED")
        assert client.delete(f"/api/jobs/{first}").status_code == 204
        assert upload(client).status_code == 202


def test_message_in_megabytes_for_real_sizes() -> None:
    mib = 1024 * 1024
    message = QuotaExceededError.for_usage(48 * mib + mib // 2, 3 * mib, 50 * mib).message
    assert "you have 48.5 MB stored and this upload adds 3.0 MB; the limit is 50.0 MB" in message
