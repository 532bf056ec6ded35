"""Signing in to an app in a browser, tried by an attacker who controls another host of the
same parent domain (another app, a subdomain taken over), or sends odd values."""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from datetime import UTC, datetime

import pytest

from atriz_core.client.litestar import VERIFIER_STATE_KEY

from .conftest import APP, EMAIL, SIBLING, Browsers, callback_url, query_of, sign_in

SESSION = "__Host-atriz_website_session"
STATE = "__Host-atriz_website_sign_in"


async def test_over_https_the_apps_cookies_are_bound_to_its_own_host(browsers: Browsers) -> None:
    """`__Host-`: the browser takes them from this host only, `Secure`, path `/`, no domain."""
    await browsers.core.register(EMAIL)
    async with browsers.browser() as ana:
        start = await ana.get(f"{APP}/auth/login")
        done = await ana.get(await callback_url(ana, EMAIL))

    for response, name in ((start, STATE), (done, SESSION)):
        set_cookie = next(
            value for value in response.headers.get_list("set-cookie") if value.startswith(name)
        )
        attributes = {part.strip().split("=")[0].lower() for part in set_cookie.split(";")}
        assert {"secure", "httponly", "path"} <= attributes, set_cookie
        assert "path=/;" in set_cookie.lower() + ";"
        assert "domain" not in attributes


async def test_a_sign_in_state_planted_by_a_sibling_host_signs_nobody_in(
    browsers: Browsers,
) -> None:
    """Login CSRF: Mallory stops her own sign-in at the callback; a sibling host plants her
    state for the whole parent domain in Ana's browser, which is then sent to her callback.
    The app reads its state from a `__Host-` cookie, which no sibling can set."""
    await browsers.core.register(EMAIL)
    await browsers.core.register("mallory@example.test", name="Mallory")
    async with browsers.browser() as mallory:
        malloys_callback = await callback_url(mallory, "mallory@example.test")
    state = query_of(malloys_callback)["state"]
    browsers.sibling_sets(
        f"atriz_website_sign_in={state}; Domain=atriz.example.test; Path=/; Secure; HttpOnly"
    )

    async with browsers.browser() as ana:
        await ana.get(f"{SIBLING}/")  # a picture on a page of the sibling's
        landed = await ana.get(malloys_callback)
        home = await ana.get(f"{APP}/")

    assert landed.status_code == 400, landed.text
    assert "mallory" not in home.text


async def test_a_session_planted_by_a_sibling_host_is_not_the_apps(browsers: Browsers) -> None:
    await browsers.core.register("mallory@example.test", name="Mallory")
    async with browsers.browser() as mallory:
        assert (await sign_in(mallory, "mallory@example.test")).status_code == 303
        mallorys_session = mallory.cookies.get(SESSION)
    assert mallorys_session
    browsers.sibling_sets(
        f"atriz_website_session={mallorys_session}; Domain=atriz.example.test; Path=/; Secure"
    )

    async with browsers.browser() as ana:
        await ana.get(f"{SIBLING}/")
        home = await ana.get(f"{APP}/")

    assert "mallory" not in home.text


async def test_a_state_or_a_state_cookie_that_is_not_ascii_is_refused(browsers: Browsers) -> None:
    """hmac.compare_digest raised TypeError on them: a 500, with the session in the log."""
    async with browsers.browser() as browser:
        start = await browser.get(f"{APP}/auth/login")
        state = query_of(start.headers["location"])["state"]
        odd_state = await browser.get(
            f"{APP}/auth/callback", params={"state": "\u00e9", "code": "x"}
        )
        odd_cookie = await browser.get(
            f"{APP}/auth/callback?state={state}&code=x", headers={"Cookie": f"{STATE}=%C3%A9"}
        )

    assert odd_state.status_code == 400, odd_state.text
    assert odd_cookie.status_code == 400, odd_cookie.text


async def test_a_sign_out_in_another_browser_a_moment_before_keeps_this_one_signed_in(
    browsers: Browsers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ana signs out on her laptop; in the same second her phone, whose sign-in at core goes
    on, opens the website. The app refreshes the phone's token past the revocation, and since
    one refreshed in the revocation's second is refused with it (`iat` has whole seconds), once
    more when that second is over, instead of signing the phone out."""
    monkeypatch.setattr(browsers.core.clock, "now", lambda: datetime.now(UTC))  # core's runs
    user = await browsers.core.register(EMAIL)
    revocations = browsers.app.state[VERIFIER_STATE_KEY].revocations
    async with browsers.browser() as laptop, browsers.browser() as phone:
        for device in (laptop, phone):
            assert (await sign_in(device)).status_code == 303
        await asyncio.sleep(1.05 - time.time() % 1)  # early in a second
        out = await laptop.post(f"{APP}/auth/logout", headers={"Sec-Fetch-Site": "same-origin"})
        assert (await laptop.get(out.headers["location"])).status_code in (302, 303)
        for _ in range(200):  # the app hears of it (LISTEN: milliseconds)
            if (revoked_at := revocations.not_before(uuid.UUID(user["id"]))) is not None:
                break
            await asyncio.sleep(0.005)
        asked_at = time.time()
        page = await phone.get(f"{APP}/")

    assert math.floor(asked_at) == math.floor(revoked_at), "the case needs the same second"
    assert page.status_code == 200, page.headers.get("location")
    assert f"Signed in as {EMAIL}" in page.text


async def test_signing_in_again_a_moment_after_signing_out_works(
    browsers: Browsers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ana signs out, then straight back in, within a second: the new sign-in's access token,
    issued in the sign-out's second, is refused with it; the app refreshes it once that second
    is over instead of answering "Not signed in"."""
    monkeypatch.setattr(browsers.core.clock, "now", lambda: datetime.now(UTC))  # core's runs
    user = await browsers.core.register(EMAIL)
    revocations = browsers.app.state[VERIFIER_STATE_KEY].revocations
    async with browsers.browser() as ana:
        assert (await sign_in(ana)).status_code == 303
        await asyncio.sleep(1.05 - time.time() % 1)  # early in a second
        out = await ana.post(f"{APP}/auth/logout", headers={"Sec-Fetch-Site": "same-origin"})
        assert (await ana.get(out.headers["location"])).status_code in (302, 303)
        for _ in range(200):
            if (revoked_at := revocations.not_before(uuid.UUID(user["id"]))) is not None:
                break
            await asyncio.sleep(0.005)
        signing_in_at = time.time()
        back = await sign_in(ana)
        home = await ana.get(f"{APP}/")

    assert math.floor(signing_in_at) == math.floor(revoked_at), "the case needs the same second"
    assert back.status_code == 303, back.text
    assert f"Signed in as {EMAIL}" in home.text
