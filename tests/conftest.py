"""Shared test fixtures: where the real UP PDFs live, and how their absence is reported."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEFAULT_FIXTURES = REPO.parent / "shared" / "fixtures" / "up"
REAL_FILES = {"lectures": "UP_MOD_XLS.pdf", "tests": "UP_TST_PDF.pdf", "exams": "UP_EXAM_SS.pdf"}


TERM_YEAR = "2026"  # the term data year whose dates the web tests assert


def pytest_configure(config: pytest.Config) -> None:
    """The web UI's term year is pinned for the whole run (and the servers it starts): by default the UI
    takes this year's dates, so without the pin the suite's expected dates would change on 1 January."""
    os.environ.setdefault("SCHEDGEN_TERM_YEAR", TERM_YEAR)


def fixtures_dir() -> Path:
    """The folder with the real UP PDFs: $SCHEDGEN_FIXTURES_DIR or ../shared/fixtures/up."""
    return Path(os.environ.get("SCHEDGEN_FIXTURES_DIR", DEFAULT_FIXTURES))


@pytest.fixture(scope="session")
def real_pdfs() -> dict[str, bytes]:
    """The three real UP PDFs by kind; skipped with a reason on a user's machine, an error in CI."""
    folder = fixtures_dir()
    missing = [name for name in REAL_FILES.values() if not (folder / name).is_file()]
    if missing:
        reason = (
            f"real UP PDFs not found in {folder} (set SCHEDGEN_FIXTURES_DIR): missing {', '.join(missing)}"
        )
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return {kind: (folder / name).read_bytes() for kind, name in REAL_FILES.items()}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    """In CI a skipped test is a failed test: nothing CI needs may be silently left out."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if os.environ.get("CI") and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, which counts as a failure: {report.longrepr}"
    return None
