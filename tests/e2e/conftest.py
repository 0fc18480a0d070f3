"""Browser tests: the embedded app served by uvicorn on a free loopback port, driven by Debian's Chromium."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from tests.conftest import REAL_FILES, fixtures_dir
from tests.support.waiting import wait_for

CHROMIUM = Path(os.environ.get("SCHEDGEN_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
REPO = Path(__file__).resolve().parents[2]
# The README's screenshots are rewritten only on request (SCHEDGEN_UPDATE_SCREENSHOTS=1): a test run must
# not leave the working tree changed. Otherwise they are still taken, into a temporary folder.
UPDATE_SCREENSHOTS = os.environ.get("SCHEDGEN_UPDATE_SCREENSHOTS") == "1"
MOBILE = {"width": 375, "height": 812}  # a phone
DESKTOP = {"width": 1280, "height": 900}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Debian's Chromium, headless, with no background traffic (no browser download)."""
    if not CHROMIUM.is_file():
        reason = f"Chromium not found at {CHROMIUM} (apt-get install chromium chromium-driver)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "args": CHROMIUM_FLAGS}


@contextlib.contextmanager
def serve_app(data_dir: Path, extra_env: dict[str, str] | None = None) -> Iterator[str]:
    """The embedded app (`app_from_environment`) in a uvicorn subprocess on a free port; stopped after."""
    port = _free_port()
    env = {
        **os.environ,
        "SCHEDGEN_DATA_DIR": str(data_dir),
        "SCHEDGEN_IN_PROCESS_WORKERS": "2",
        "SCHEDGEN_RATE_LIMITS": "false",  # the tests upload more often than a student may
        "SCHEDGEN_LOG_LEVEL": "WARNING",
        **(extra_env or {}),
    }
    env.pop("SCHEDGEN_DATABASE_URL", None)
    env.pop("SCHEDGEN_REDIS_URL", None)
    log = data_dir / "server.log"
    command = [
        sys.executable, "-m", "uvicorn", "--factory", "schedgen.web.app:app_from_environment",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
        "--http", "schedgen.web.server:CoalescingHttpToolsProtocol",  # as `schedgen serve` serves
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=out, cwd=REPO)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: process.poll() is not None or _healthy(url), timeout=30)
        if process.poll() is not None:
            pytest.fail(f"the app did not start: {log.read_text()[-3000:]}")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`schedgen serve`'s app (embedded mode) for the browser tests."""
    with serve_app(tmp_path_factory.mktemp("e2e-data")) as url:
        yield url


@pytest.fixture(scope="session")
def base_url(live_server: str) -> str:
    """Pages open relative to the live server."""
    return live_server


@pytest.fixture(scope="session")
def real_pdf_paths() -> dict[str, Path]:
    """Paths of the three real UP PDFs (skipped, or failed in CI, when missing)."""
    folder = fixtures_dir()
    missing = [name for name in REAL_FILES.values() if not (folder / name).is_file()]
    if missing:
        reason = f"real UP PDFs not found in {folder}: missing {', '.join(missing)}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return {kind: folder / name for kind, name in REAL_FILES.items()}


@pytest.fixture
def mobile_page(browser: Browser, base_url: str) -> Iterator[Page]:
    """A page in a phone-sized (375 px wide) touch context."""
    context = browser.new_context(viewport=MOBILE, base_url=base_url, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    """Desktop-sized pages that accept downloads."""
    return {**browser_context_args, "viewport": DESKTOP, "accept_downloads": True}


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """docs/screenshots/ when asked to update them, else a temporary folder."""
    return REPO / "docs" / "screenshots" if UPDATE_SCREENSHOTS else tmp_path_factory.mktemp("screenshots")


def screenshot(page: Page, folder: Path, name: str, at: str | None = None) -> None:
    """Save a PNG of the visible part of the page (scrolled to `at`, a selector) into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    if at is not None:
        page.locator(at).first.evaluate("el => el.scrollIntoView({block: 'start'})")
    page.screenshot(path=str(folder / f"{name}.png"), animations="disabled", caret="initial")
