"""Bad input everywhere: schemathesis cases from our OpenAPI schema; no 5xx, every error in the shared shape.

Deterministic (derandomized Hypothesis) and bounded: a few examples per operation and mode, under a minute.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from tests.support.webapps import ERROR_KEYS, serve, settings_for

EXAMPLES = 12  # per operation and generation mode
ADMIN = "fuzz-admin-token"


def _send(client: Any, case: Any) -> Any:
    kwargs = case.as_transport_kwargs(base_url="http://testserver")
    data = kwargs.pop("data", None)
    if isinstance(data, bytes | str):
        kwargs["content"] = data
    elif data is not None:
        kwargs["data"] = data
    cookies = kwargs.pop("cookies", None) or {}
    if cookies:
        kwargs["headers"] = {
            **(kwargs.get("headers") or {}),
            "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()),
        }
    kwargs.pop("timeout", None)
    kwargs.pop("allow_redirects", None)
    return client.request(**kwargs)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_no_server_errors_and_every_error_in_the_shared_shape(tmp_path: Path, mode: GenerationMode) -> None:
    config = settings_for(
        "embedded",
        None,  # type: ignore[arg-type]
        tmp_path,
        rate_limits=False,
        admin_token=ADMIN,
        auth_max_failures=1_000_000,  # generated bad tokens must not block the test client
        in_process_workers=1,  # so /health/ready is ready
    )
    with serve(config) as client:
        schema = schemathesis.openapi.from_dict(client.get("/api/openapi.json").json())
        operations = [result.ok() for result in schema.get_all_operations()]
        strategy = st.one_of(*(op.as_strategy(generation_mode=mode) for op in operations))
        seen: set[str] = set()

        @settings(
            max_examples=EXAMPLES * len(operations),
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy, with_token=st.booleans())
        def check(case: Any, with_token: bool) -> None:
            if with_token:
                case.headers = {**(case.headers or {}), "Authorization": f"Bearer {ADMIN}"}
            response = _send(client, case)
            seen.add(case.operation.label)
            assert response.status_code < 500, (case.operation.label, response.status_code, response.text)
            if response.status_code >= 400:
                body = response.json()
                assert set(body) == ERROR_KEYS, (case.operation.label, body)
                assert body["statusCode"] == response.status_code

        check()
    if mode == GenerationMode.POSITIVE:  # (invalid cases exist only for operations with inputs)
        assert len(seen) == len(operations), set(op.label for op in operations) - seen
