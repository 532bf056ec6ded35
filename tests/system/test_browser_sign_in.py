"""Sign in once in a real browser: headless Chromium (Debian's `chromium`, driven by Playwright
with `executable_path`; no browser download) against `atriz dev` as a subprocess.

Ana signs in at the website, opens mextrack and pshop without seeing the sign-in page again,
sees her own data in each, signs out at the website, and is signed out of every app.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from typing import Any

import pytest

pytestmark = pytest.mark.slow
RunningSystem = Any  # the `system` fixture's value (conftest.RunningSystem)
SEEDED_PASSWORD = "atriz-dev-password"  # core's seeds
CHROMIUM = shutil.which("chromium")
ANA = "ana@atriz.localhost"
SIGNED_OUT_WITHIN = 5.0

if CHROMIUM is None:
    pytest.skip(
        "Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True
    )

from playwright.sync_api import Browser, Page, sync_playwright  # noqa: E402


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


def sign_in_page_shown(page: Page, system: RunningSystem) -> bool:
    return (
        page.url.startswith(system.urls["core"])
        and page.locator("input[name=password]").is_visible()
    )


def test_one_sign_in_in_the_browser_reaches_every_app_and_one_sign_out_ends_them(
    system: RunningSystem, browser: Browser
) -> None:
    page = browser.new_context().new_page()
    core_pages: list[str] = []
    page.on(
        "framenavigated",
        lambda frame: (
            core_pages.append(frame.url) if frame.url.startswith(system.urls["core"]) else None
        ),
    )

    page.goto(f"{system.urls['website']}/")
    assert sign_in_page_shown(page, system), page.url
    page.get_by_label("Email").fill(ANA)
    page.get_by_label("Password").fill(SEEDED_PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    page.wait_for_url(f"{system.urls['website']}/")
    assert "Signed in as ana@atriz.localhost" in page.content()
    assert "Crème brûlée" in page.inner_text("main")
    signed_in_pages = len(core_pages)

    page.goto(f"{system.urls['mextrack']}/")
    page.wait_for_url(f"{system.urls['mextrack']}/")
    assert "ANA-101" in page.inner_text("main")
    page.goto(f"{system.urls['pshop']}/")
    page.wait_for_url(f"{system.urls['pshop']}/")
    assert "Catalogue" in page.inner_text("main")
    # Core was passed through (authorize), but no sign-in page was shown on the way.
    assert all("authorize" in url for url in core_pages[signed_in_pages:]), core_pages

    page.goto(f"{system.urls['website']}/")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_load_state()
    assert sign_in_page_shown(page, system), page.url

    for app in ("mextrack", "pshop"):
        deadline = time.monotonic() + SIGNED_OUT_WITHIN
        while True:
            page.goto(f"{system.urls[app]}/")
            if sign_in_page_shown(page, system):
                break
            assert time.monotonic() < deadline, f"{app} still signed in: {page.url}"
            time.sleep(0.5)
