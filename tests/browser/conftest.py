"""Browser tests: Playwright driving Debian's Chromium (headless, `--no-sandbox`) against
a real `mailyard serve`, with outgoing mail caught by the relay sink.

Screenshots of the pages the tests visit go to `test-screenshots/` at the top of the
checkout (or `$MAILYARD_SCREENSHOTS`), for people to review.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tests.served import ServedMailyard

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(
    os.environ.get("MAILYARD_SCREENSHOTS", Path(__file__).resolve().parents[2] / "test-screenshots")
)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (./dev.sh test installs it as root)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox"], headless=True
        )
        yield chromium
        chromium.close()


@pytest.fixture
def site(settings, relay, broker_url) -> Iterator[ServedMailyard]:
    """A running Mailyard that sends its mail to the test sink."""
    if broker_url:
        import redis

        redis.Redis.from_url(broker_url).flushdb()
    served = ServedMailyard(replace(settings, relay_url=f"smtp://127.0.0.1:{relay[1]}"))
    yield served
    served.stop()
    if served.process and served.process.poll() is None:
        served.kill()


@pytest.fixture
def shoot():
    """shoot(page, name): save a full-page screenshot as test-screenshots/NAME.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def save(page, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return save
