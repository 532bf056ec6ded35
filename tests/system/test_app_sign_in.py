"""The apps' browser sign-in (the kit's backend-for-frontend) against `atriz dev`, driven as a
browser would be, by an HTTP client with a cookie jar: the cookie's attributes, and an attacker's
moves on the app's side of the flow (a callback replayed or carried to another browser, `next`
pointing off-site, a cross-site sign-out), and which sessions a sign-out at core ends."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.slow
RunningSystem = Any  # the `system` fixture's value (conftest.RunningSystem)
ANA = ("ana@atriz.localhost", "atriz-dev-password")  # core's seeds
SIGNED_OUT_WITHIN = 5.0


@pytest.fixture
def system_settings() -> dict[str, str]:
    # Core's cookies are Secure outside development, and httpx's cookie jar (unlike Chromium)
    # sends no Secure cookie to http://127.0.0.1.
    return {"ATRIZ_ENV": "development"}


def browser() -> httpx.Client:
    return httpx.Client(timeout=10, follow_redirects=True)


def sign_in_at_core(client: httpx.Client, page: httpx.Response) -> httpx.Response:
    """Fill core's sign-in page (`page`) as Ana; the page the redirects end on."""
    assert page.url.path == "/oauth/sign-in", page.url
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text))
    fields = {name: value.replace("&amp;", "&") for name, value in fields.items()}
    return client.post(
        str(page.url.copy_with(query=None)),
        data={**fields, "email": ANA[0], "password": ANA[1]},
    )


def callback_url(client: httpx.Client, app: str) -> str:
    """Start a sign-in at `app` in a browser already signed in at core; the callback URL core
    sends it back to (not followed)."""
    start = client.get(f"{app}/auth/login", follow_redirects=False)
    authorize = client.get(start.headers["location"], follow_redirects=False)
    assert authorize.status_code == 302, authorize.text
    location: str = authorize.headers["location"]
    assert location.startswith(f"{app}/auth/callback?"), location
    return location


def test_the_apps_session_cookie_and_the_attacks_on_their_callback(
    system: RunningSystem,
) -> None:
    website, mextrack = system.urls["website"], system.urls["mextrack"]
    with browser() as ana, browser() as attacker:
        home = sign_in_at_core(ana, ana.get(f"{website}/"))
        assert home.url == httpx.URL(f"{website}/")
        assert "Signed in as ana@atriz.localhost" in home.text
        cookie = next(c for c in ana.cookies.jar if c.name == "atriz_website_session")
        assert cookie.has_nonstandard_attr("HttpOnly")
        assert (cookie.get_nonstandard_attr("SameSite") or "").lower() == "lax"
        assert cookie.path == "/"
        assert "eyJ" not in home.text, "no token in the page"

        # Signed in at core already: mextrack goes straight through, no sign-in page.
        fleet = ana.get(f"{mextrack}/")
        assert fleet.url == httpx.URL(f"{mextrack}/"), fleet.url
        assert "ANA-101" in fleet.text

        # A callback carried to another browser (login CSRF): it lacks the state cookie.
        stolen = callback_url(ana, website)
        refused = attacker.get(stolen)
        assert refused.status_code == 400
        assert not any(c.name == "atriz_website_session" for c in attacker.cookies.jar)
        # The callback, once used, cannot be used again.
        assert ana.get(stolen).url == httpx.URL(f"{website}/")
        assert ana.get(stolen).status_code == 400

        # `next` stays on the app, whatever it says.
        for target in ("//evil.test/", "https://evil.test/", "/\\evil.test"):
            landed = ana.get(f"{website}/auth/login", params={"next": target})
            assert landed.url == httpx.URL(f"{website}/"), (target, landed.url)

        # A sign-out posted from another site is refused and ends nothing.
        forged = ana.post(
            f"{website}/auth/logout",
            headers={"Origin": "https://evil.test", "Sec-Fetch-Site": "cross-site"},
            follow_redirects=False,
        )
        assert forged.status_code == 403
        assert "Signed in as" in ana.get(f"{website}/").text


def test_a_sign_out_at_core_ends_that_browser_in_every_app_but_not_another_browser(
    system: RunningSystem,
) -> None:
    website, mextrack, pshop = (system.urls[app] for app in ("website", "mextrack", "pshop"))
    with browser() as laptop, browser() as phone:
        for device in (laptop, phone):
            sign_in_at_core(device, device.get(f"{website}/"))
            for app in (mextrack, pshop):
                assert "Signed in as" in device.get(f"{app}/").text

        left = laptop.post(f"{website}/auth/logout", headers={"Sec-Fetch-Site": "same-origin"})
        # Core ended the browser session and sent the browser back to the website, which sends
        # it to sign in again.
        assert left.url.path == "/oauth/sign-in", left.url

        for app in (mextrack, pshop):
            deadline = time.monotonic() + SIGNED_OUT_WITHIN
            while "Signed in as" in (page := laptop.get(f"{app}/")).text:
                assert time.monotonic() < deadline, f"{app} still signed in on the laptop"
                time.sleep(0.5)
            assert page.url.path == "/oauth/sign-in"

        # Core refuses the user's older access tokens everywhere; the phone's sessions were not
        # ended, so each app refreshes past the refusal (waiting out the refusal's second when
        # it is not over yet: `iat` is whole seconds).
        for app in (website, mextrack, pshop):
            page = phone.get(f"{app}/")
            assert "Signed in as ana@atriz.localhost" in page.text, (app, page.url)
