"""Core's sign-in page and browser session: framing refused, CSRF tokens, the cookie's
attributes, `/auth/login`'s limits and answers, consent, and every way the session ends."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from atriz_core.context import Core, RequestContext
from atriz_core.oidc import services
from atriz_core.oidc.repository import REPLACED_COOKIE_SECONDS
from atriz_core.testing import TEST_PASSWORD, CoreHarness
from atriz_database.pool import connect

from .conftest import (
    EMAIL,
    LOGOUT_URI,
    RegisteredClient,
    authorize,
    authorize_params,
    code_for,
    exchange,
    hidden,
    live_sessions,
    pkce,
    query_of,
    refresh,
    register_client,
    sign_in,
    signed_in_again,
    signed_in_emails,
)

COOKIE = "__Host-atriz_session"


def csp(response: Any) -> dict[str, str]:
    directives = (d.strip() for d in response.headers["content-security-policy"].split(";"))
    return {d.split(" ", 1)[0]: d.split(" ", 1)[1] for d in directives if d}


async def test_the_sign_in_page_cannot_be_framed_and_is_accessible(
    core_harness: CoreHarness, webapp: RegisteredClient
) -> None:
    _, challenge = pkce()
    start = await core_harness.client.get(
        "/oauth/authorize", params=authorize_params(webapp, challenge)
    )
    page = await core_harness.client.get(start.headers["location"])

    assert page.status_code == 200
    assert csp(page)["frame-ancestors"] == "'none'"
    assert page.headers["x-frame-options"] == "DENY"
    assert "script-src" not in csp(page)
    assert csp(page)["default-src"] == "'none'"
    # The sign-in's redirects end at the client: its origin, and no other, may follow the form.
    assert csp(page)["form-action"] == "'self' https://app.example.test"
    assert '<label for="email">' in page.text
    assert '<label for="password">' in page.text
    assert "The webapp app" in page.text


async def test_the_browser_session_cookie_is_httponly_lax_and_secure(
    core_harness: CoreHarness, user: dict[str, Any]
) -> None:
    response = await sign_in(core_harness)

    assert response.status_code == 303
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith("__Host-atriz_session=")
    )
    attributes = {part.strip().lower() for part in cookie.split(";")}
    assert {"httponly", "secure", "path=/", "samesite=lax"} <= attributes
    assert not any(a.startswith("domain=") for a in attributes)


@pytest.mark.parametrize(
    "token",
    [None, "", "forged-token", "\u00e9"],
    ids=["missing", "empty", "wrong", "not-ascii"],  # hmac.compare_digest raised on the last
)
async def test_a_sign_in_without_the_csrf_token_is_refused(
    core_harness: CoreHarness, user: dict[str, Any], token: str | None
) -> None:
    await core_harness.client.get("/oauth/sign-in")  # the browser has its CSRF cookie
    data = {"email": EMAIL, "password": "a long and unusual passphrase"}
    if token is not None:
        data["csrf_token"] = token

    response = await core_harness.client.post("/oauth/sign-in", data=data)

    assert response.status_code == 403
    assert "atriz_session" not in response.headers.get("set-cookie", "")


async def test_a_csrf_token_of_another_browser_is_refused(
    core_harness: CoreHarness, user: dict[str, Any]
) -> None:
    page = await core_harness.client.get("/oauth/sign-in")
    token = hidden(page, "csrf_token")
    core_harness.client.cookies.clear()  # the victim's browser: another CSRF cookie, or none
    await core_harness.client.get("/oauth/sign-in")

    response = await core_harness.client.post(
        "/oauth/sign-in",
        data={"email": EMAIL, "password": "a long and unusual passphrase", "csrf_token": token},
    )

    assert response.status_code == 403


async def test_the_page_answers_an_unknown_email_and_a_wrong_password_alike(
    core_harness: CoreHarness, user: dict[str, Any]
) -> None:
    page = await core_harness.client.get("/oauth/sign-in")
    token = hidden(page, "csrf_token")

    async def attempt(email: str, password: str) -> Any:
        data = {"email": email, "password": password, "csrf_token": token}
        return await core_harness.client.post("/oauth/sign-in", data=data)

    unknown = await attempt("nobody@example.test", "whatever password")
    wrong = await attempt(EMAIL, "whatever password")

    assert unknown.status_code == wrong.status_code == 401
    assert unknown.text.replace("nobody@example.test", EMAIL) == wrong.text
    assert "Invalid e-mail or password." in wrong.text


@pytest.fixture
def core_overrides() -> dict[str, Any]:
    return {"issuer": "https://auth.atriz.test", "login_max_failures": 2, "address_max_failures": 4}


async def test_the_page_obeys_the_lockout_and_the_address_limit(
    core_harness: CoreHarness, user: dict[str, Any]
) -> None:
    for _ in range(2):
        assert (await sign_in(core_harness, password="wrong password")).status_code == 401

    locked = await sign_in(core_harness)  # the right password, on a locked account
    core_harness.clock.advance(31)  # the lock is over; the address's window is not
    limited = await sign_in(core_harness, password="wrong password")
    limited_again = await sign_in(core_harness)

    assert locked.status_code == 401
    assert limited.status_code == 401
    assert limited_again.status_code == 429, "the address used up its failures"
    assert int(limited_again.headers["retry-after"]) > 0
    assert "atriz_session" not in limited_again.headers.get("set-cookie", "")


async def test_sign_in_continues_only_to_core_s_own_authorization_endpoint(
    core_harness: CoreHarness, user: dict[str, Any]
) -> None:
    response = await sign_in(core_harness, return_to="https://evil.example.test/")

    assert response.status_code == 303
    assert response.headers["location"] == "/oauth/sign-in"


async def test_a_signed_in_browser_goes_straight_through(
    core_harness: CoreHarness, user: dict[str, Any], webapp: RegisteredClient
) -> None:
    other = await register_client(core_harness, "otherapp", redirect_uri="https://other.test/cb")
    _, challenge = pkce()
    await code_for(core_harness, authorize_params(webapp, challenge))

    second = await core_harness.client.get(
        "/oauth/authorize", params=authorize_params(other, challenge)
    )

    assert second.status_code == 302
    assert "code" in query_of(second.headers["location"])


async def test_prompt_none_without_a_session_answers_login_required(
    core_harness: CoreHarness, webapp: RegisteredClient
) -> None:
    _, challenge = pkce()
    params = authorize_params(webapp, challenge, prompt="none")

    response = await core_harness.client.get("/oauth/authorize", params=params)

    assert response.status_code == 302
    assert query_of(response.headers["location"])["error"] == "login_required"


async def test_a_third_party_client_asks_consent(
    core_harness: CoreHarness, user: dict[str, Any]
) -> None:
    third = await register_client(core_harness, "partner", first_party=False)
    _, challenge = pkce()
    params = authorize_params(third, challenge)

    consent = await authorize(core_harness, params)
    fields = {name: hidden(consent, name) for name in (*params, "csrf_token")}
    forged = await core_harness.client.post(
        "/oauth/authorize", data={**fields, "csrf_token": "forged", "decision": "allow"}
    )
    denied = await core_harness.client.post("/oauth/authorize", data={**fields, "decision": "deny"})
    allowed = await core_harness.client.post(
        "/oauth/authorize", data={**fields, "decision": "allow"}
    )

    assert consent.status_code == 200
    assert "Allow The partner app?" in consent.text
    assert csp(consent)["frame-ancestors"] == "'none'"
    assert forged.status_code == 403
    assert query_of(denied.headers["location"])["error"] == "access_denied"
    assert "code" in query_of(allowed.headers["location"])


async def signed_in_tokens(
    core_harness: CoreHarness, client: RegisteredClient
) -> tuple[dict[str, Any], dict[str, str]]:
    verifier, challenge = pkce()
    params = authorize_params(client, challenge)
    response = await exchange(core_harness, client, await code_for(core_harness, params), verifier)
    assert response.status_code == 200, response.text
    return response.json(), params


async def session_is_live(core_harness: CoreHarness, client: RegisteredClient) -> bool:
    _, challenge = pkce()
    response = await core_harness.client.get(
        "/oauth/authorize", params=authorize_params(client, challenge)
    )
    return response.status_code == 302


async def test_logout_all_ends_the_browser_session(
    core_harness: CoreHarness, user: dict[str, Any], webapp: RegisteredClient
) -> None:
    tokens, _ = await signed_in_tokens(core_harness, webapp)

    ended = await core_harness.client.post(
        "/auth/logout-all", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )

    assert ended.status_code == 204
    assert not await session_is_live(core_harness, webapp)
    assert await refresh(core_harness, webapp, tokens["refresh_token"]) == 400


async def test_deactivation_ends_the_browser_session(
    core_harness: CoreHarness, user: dict[str, Any], webapp: RegisteredClient
) -> None:
    tokens, _ = await signed_in_tokens(core_harness, webapp)
    admin = await core_harness.admin_headers()
    core_harness.client.cookies.clear()
    await sign_in(core_harness)  # signed in again, in this browser, as Ana

    deactivated = await core_harness.client.post(
        f"/admin/users/{user['id']}/deactivate", headers=admin
    )

    assert deactivated.status_code == 204
    assert not await session_is_live(core_harness, webapp)
    assert await refresh(core_harness, webapp, tokens["refresh_token"]) == 400


async def test_rp_initiated_logout_ends_every_app_session_and_returns_to_the_client(
    core_harness: CoreHarness, user: dict[str, Any], webapp: RegisteredClient
) -> None:
    tokens, _ = await signed_in_tokens(core_harness, webapp)

    response = await core_harness.client.get(
        "/oauth/logout",
        params={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": LOGOUT_URI,
            "state": "s1",
        },
    )

    assert response.status_code == 303
    assert response.headers["location"] == f"{LOGOUT_URI}?state=s1"
    assert not await session_is_live(core_harness, webapp)
    assert await refresh(core_harness, webapp, tokens["refresh_token"]) == 400


@pytest.mark.parametrize(
    "uri",
    [
        "https://evil.example.test/",
        LOGOUT_URI + "evil",
        "https://app.example.test.evil.test/",
        "//evil.example.test/",
    ],
)
async def test_logout_never_redirects_to_an_unregistered_uri(
    core_harness: CoreHarness, user: dict[str, Any], webapp: RegisteredClient, uri: str
) -> None:
    tokens, _ = await signed_in_tokens(core_harness, webapp)

    response = await core_harness.client.get(
        "/oauth/logout",
        params={"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": uri},
    )

    assert "location" not in response.headers
    assert response.status_code == 200
    assert "Signed out" in response.text


async def test_logout_without_an_id_token_asks_first(
    core_harness: CoreHarness, user: dict[str, Any], webapp: RegisteredClient
) -> None:
    await signed_in_tokens(core_harness, webapp)
    params = {"client_id": webapp.id, "post_logout_redirect_uri": LOGOUT_URI}

    asked = await core_harness.client.get("/oauth/logout", params=params)
    still_live = await session_is_live(core_harness, webapp)
    forged = await core_harness.client.post(
        "/oauth/logout", data={**params, "csrf_token": "forged"}
    )
    confirmed = await core_harness.client.post(
        "/oauth/logout", data={**params, "csrf_token": hidden(asked, "csrf_token")}
    )

    assert asked.status_code == 200
    assert "Sign out of Atriz?" in asked.text
    assert still_live, "a link alone signs nobody out"
    assert forged.status_code == 200
    assert "Sign out of Atriz?" in forged.text
    assert confirmed.status_code == 303
    assert confirmed.headers["location"] == LOGOUT_URI
    assert not await session_is_live(core_harness, webapp)


async def test_a_logout_link_with_someone_elses_id_token_asks_first(
    core_harness: CoreHarness, webapp: RegisteredClient
) -> None:
    """Mallory's page sends Ana's browser to core's logout with Mallory's own ID token: core
    asks Ana first instead of ending her sign-in, and Mallory's sign-in stays too."""
    await core_harness.register(email="mallory@example.test", name="Mallory")
    await core_harness.register(email=EMAIL, name="Ana")
    assert (await sign_in(core_harness, email="mallory@example.test")).status_code == 303
    mallorys, _ = await signed_in_tokens(core_harness, webapp)
    core_harness.client.cookies.clear()
    assert (await sign_in(core_harness)).status_code == 303  # Ana's browser
    params = {"id_token_hint": mallorys["id_token"], "post_logout_redirect_uri": LOGOUT_URI}

    asked = await core_harness.client.get("/oauth/logout", params=params)

    assert asked.status_code == 200
    assert "Sign out of Atriz?" in asked.text
    assert await session_is_live(core_harness, webapp), "a link alone signs nobody out"
    assert not await core_harness.sql_value(
        "SELECT count(*) FROM sessions WHERE revoked_at IS NOT NULL"
    )
    confirmed = await core_harness.client.post(
        "/oauth/logout", data={**params, "csrf_token": hidden(asked, "csrf_token")}
    )
    assert confirmed.status_code == 303
    assert not await session_is_live(core_harness, webapp)
    # Ana's sign-in ended, Mallory's did not.
    ended = await core_harness.sql_rows(
        "SELECT DISTINCT u.email FROM sessions s JOIN users u ON u.id = s.user_id"
        " WHERE s.revoked_at IS NOT NULL"
    )
    assert [row["email"] for row in ended] == [EMAIL]


async def test_an_apps_logout_with_an_earlier_sign_in_ends_both_once_confirmed(
    core_harness: CoreHarness, user: dict[str, Any], webapp: RegisteredClient
) -> None:
    """The app holds the ID token of Ana's first sign-in; the browser has signed in again since
    (its cookie lost, say). The app's logout asks first, and once Ana confirms, both sign-ins
    end, the app's session under the first one with them."""
    first, _ = await signed_in_tokens(core_harness, webapp)
    core_harness.client.cookies.clear()
    assert (await sign_in(core_harness)).status_code == 303  # a second sign-in, same user
    params = {"id_token_hint": first["id_token"], "post_logout_redirect_uri": LOGOUT_URI}

    asked = await core_harness.client.get("/oauth/logout", params=params)
    assert asked.status_code == 200
    assert "Sign out of Atriz?" in asked.text
    confirmed = await core_harness.client.post(
        "/oauth/logout", data={**params, "csrf_token": hidden(asked, "csrf_token")}
    )

    assert confirmed.status_code == 303
    assert not await session_is_live(core_harness, webapp)
    assert await refresh(core_harness, webapp, first["refresh_token"]) == 400
    assert not await live_sessions(core_harness)


async def test_signing_in_again_keeps_the_apps_and_one_sign_out_still_ends_all(
    core_harness: CoreHarness, user: dict[str, Any], webapp: RegisteredClient
) -> None:
    """An app asks Ana to sign in again (`prompt=login`): her earlier sign-in's cookie stops
    working, the app session it approved goes on refreshing, and a code it gave just before
    still exchanges; signing out of the new sign-in ends all of it."""
    first, _ = await signed_in_tokens(core_harness, webapp)
    earlier_cookie = core_harness.client.cookies.get(COOKIE)
    pending_verifier, pending_challenge = pkce()
    pending = await code_for(core_harness, authorize_params(webapp, pending_challenge))
    verifier, challenge = pkce()
    second_code = await code_for(core_harness, authorize_params(webapp, challenge, prompt="login"))
    second = (await exchange(core_harness, webapp, second_code, verifier)).json()

    still_refreshes = await core_harness.client.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        auth=webapp.auth,
    )
    still_exchanges = await exchange(core_harness, webapp, pending, pending_verifier)
    core: Core = core_harness.app.state.core
    earlier = await services.browser_session(core_harness.app.state.db_pool, core, earlier_cookie)
    signed_out = await core_harness.client.get(
        "/oauth/logout", params={"id_token_hint": second["id_token"]}
    )

    assert still_refreshes.status_code == 200, still_refreshes.text
    assert still_exchanges.status_code == 200, still_exchanges.text
    assert earlier is None, "the earlier cookie signs nobody in"
    assert signed_out.status_code == 200
    assert "Signed out" in signed_out.text
    assert await refresh(core_harness, webapp, still_refreshes.json()["refresh_token"]) == 400
    assert await refresh(core_harness, webapp, still_exchanges.json()["refresh_token"]) == 400
    assert not await live_sessions(core_harness)


async def test_an_apps_logout_with_an_id_token_of_a_replaced_sign_in_ends_them_all(
    core_harness: CoreHarness, user: dict[str, Any], webapp: RegisteredClient
) -> None:
    """After a sign-in again, an app's logout from its server (no cookie of core) with the ID
    token of the earlier sign-in ends the browser's sign-ins and every app session."""
    first, _ = await signed_in_tokens(core_harness, webapp)
    verifier, challenge = pkce()
    code = await code_for(core_harness, authorize_params(webapp, challenge, prompt="login"))
    second = await exchange(core_harness, webapp, code, verifier)
    assert second.status_code == 200, second.text
    core_harness.client.cookies.clear()

    signed_out = await core_harness.client.get(
        "/oauth/logout", params={"id_token_hint": first["id_token"]}
    )

    assert signed_out.status_code == 200
    assert "Signed out" in signed_out.text
    assert await refresh(core_harness, webapp, first["refresh_token"]) == 400
    assert await refresh(core_harness, webapp, second.json()["refresh_token"]) == 400
    assert not await live_sessions(core_harness)


async def test_two_sign_ins_at_once_in_one_browser_are_ended_by_one_sign_out(
    core_harness: CoreHarness, user: dict[str, Any], webapp: RegisteredClient
) -> None:
    """A double click on "Sign in": both sign-ins replace the earlier one, one under the other,
    so whichever cookie the browser keeps, its sign-out ends them all."""
    await signed_in_tokens(core_harness, webapp)
    form = await core_harness.client.get("/oauth/sign-in", params={"reauth": "1"})
    data = {"email": EMAIL, "password": TEST_PASSWORD, "csrf_token": hidden(form, "csrf_token")}

    first, second = await asyncio.gather(
        core_harness.client.post("/oauth/sign-in", data=data),
        core_harness.client.post("/oauth/sign-in", data=data),
    )
    page = await core_harness.client.get("/oauth/logout")
    signed_out = await core_harness.client.post(
        "/oauth/logout", data={"csrf_token": hidden(page, "csrf_token")}
    )

    assert (first.status_code, second.status_code) == (303, 303)
    assert core_harness.in_flight.peak >= 2
    assert signed_out.status_code == 200
    assert not await live_sessions(core_harness)


async def test_another_user_signing_in_ends_the_earlier_users_sign_in(
    core_harness: CoreHarness, user: dict[str, Any], webapp: RegisteredClient
) -> None:
    """On a shared computer Ben signs in over Ana's sign-in: hers ends with every app session
    it approved, and the apps refuse her access tokens."""
    anas, _ = await signed_in_tokens(core_harness, webapp)
    await core_harness.register(email="ben@example.test", name="Ben")
    form = await core_harness.client.get("/oauth/sign-in", params={"reauth": "1"})
    bens = await core_harness.client.post(
        "/oauth/sign-in",
        data={
            "email": "ben@example.test",
            "password": TEST_PASSWORD,
            "csrf_token": hidden(form, "csrf_token"),
        },
    )

    assert bens.status_code == 303
    assert await refresh(core_harness, webapp, anas["refresh_token"]) == 400
    assert await core_harness.apps_refuse(anas["access_token"])
    assert await signed_in_emails(core_harness) == ["ben@example.test"]


async def test_a_sign_in_again_waits_for_an_exchange_under_the_earlier_one(
    core_harness: CoreHarness, user: dict[str, Any], webapp: RegisteredClient
) -> None:
    """A code exchanged under Ana's earlier sign-in while she signs in again: the replacement
    waits for the exchange's hold on her row, and the app session the exchange opened ends with
    the new sign-in, out of reach of nothing."""
    core: Core = core_harness.app.state.core
    pool = core_harness.app.state.db_pool
    first, again = [
        await services.start_browser_session(
            pool, core, email=EMAIL, password=TEST_PASSWORD, context=RequestContext(None, None)
        )
        for _ in range(2)
    ]
    earlier = await services.browser_session(pool, core, first.token)
    assert earlier is not None
    exchange_in_flight = await connect(core_harness.settings.database_url)
    try:
        async with exchange_in_flight.transaction():  # as `exchange_code` holds the user
            await exchange_in_flight.execute(
                "SELECT FROM users WHERE id = $1 FOR SHARE", earlier.user_id
            )
            opened = await exchange_in_flight.fetchval(
                "INSERT INTO sessions (id, user_id, client_id, scope, browser_session_id,"
                " created_at, expires_at) SELECT gen_random_uuid(), user_id, $2, 'openid', id,"
                " created_at, expires_at FROM sessions WHERE id = $1 RETURNING id",
                earlier.id,
                webapp.id,
            )
            replacing = asyncio.create_task(
                services.replace_browser_session(
                    pool, core, first.token, again, RequestContext(None, None)
                )
            )
            await core_harness.until_a_statement_waits_on_a_lock()
        await replacing
    finally:
        await exchange_in_flight.close()

    await services.end_browser_session(pool, core, again.session_id, RequestContext(None, None))
    assert await core_harness.sql_value(
        "SELECT revoked_at IS NOT NULL FROM sessions WHERE id = $1", opened
    )


async def test_a_browser_that_missed_its_sign_ins_answer_still_signs_out_everything(
    core_harness: CoreHarness, user: dict[str, Any], webapp: RegisteredClient
) -> None:
    """Ana signs in again, but the answer never reaches the browser (a tab closed, a proxy's
    504): it still holds the cookie the sign-in replaced. Its sign-out still ends every sign-in
    and app session of the browser; so does Ben's sign-in on that computer, after hers."""
    anas, _ = await signed_in_tokens(core_harness, webapp)
    earlier_cookie = core_harness.client.cookies.get(COOKIE)
    form = await core_harness.client.get("/oauth/sign-in", params={"reauth": "1"})
    data = {"email": EMAIL, "password": TEST_PASSWORD, "csrf_token": hidden(form, "csrf_token")}
    assert (await core_harness.client.post("/oauth/sign-in", data=data)).status_code == 303
    core_harness.client.cookies.set(COOKIE, earlier_cookie)  # the answer was lost

    page = await core_harness.client.get("/oauth/logout")
    signed_out = await core_harness.client.post(
        "/oauth/logout", data={"csrf_token": hidden(page, "csrf_token")}
    )

    assert signed_out.status_code == 200
    assert await refresh(core_harness, webapp, anas["refresh_token"]) == 400
    assert not await live_sessions(core_harness)


async def test_another_user_signing_in_with_a_replaced_cookie_ends_the_earlier_sign_ins(
    core_harness: CoreHarness, user: dict[str, Any], webapp: RegisteredClient
) -> None:
    anas, _ = await signed_in_tokens(core_harness, webapp)
    earlier_cookie = core_harness.client.cookies.get(COOKIE)
    form = await core_harness.client.get("/oauth/sign-in", params={"reauth": "1"})
    data = {"email": EMAIL, "password": TEST_PASSWORD, "csrf_token": hidden(form, "csrf_token")}
    assert (await core_harness.client.post("/oauth/sign-in", data=data)).status_code == 303
    core_harness.client.cookies.set(COOKIE, earlier_cookie)  # the answer was lost
    await core_harness.register(email="ben@example.test", name="Ben")

    bens = await sign_in(core_harness, email="ben@example.test", reauth=True)

    assert bens.status_code == 303
    assert await refresh(core_harness, webapp, anas["refresh_token"]) == 400
    assert await signed_in_emails(core_harness) == ["ben@example.test"]


async def test_an_id_token_of_a_sign_in_over_ends_nothing_that_came_after(
    core_harness: CoreHarness, user: dict[str, Any], webapp: RegisteredClient
) -> None:
    """Ana signed in again every 20 days (an app with `max_age`); her first sign-in is over.
    Its ID token, from a logout link in a history or a log, must not end today's sign-in."""
    first, _ = await signed_in_tokens(core_harness, webapp)
    latest: dict[str, Any] = first
    for _ in range(3):
        core_harness.clock.advance(20 * 24 * 3600)
        latest = await signed_in_again(core_harness, webapp)
    core_harness.client.cookies.clear()

    await core_harness.client.get("/oauth/logout", params={"id_token_hint": first["id_token"]})

    assert await refresh(core_harness, webapp, latest["refresh_token"]) == 200


async def confirmed_logout(core_harness: CoreHarness) -> Any:
    page = await core_harness.client.get("/oauth/logout")
    assert page.status_code == 200, page.text
    return await core_harness.client.post(
        "/oauth/logout", data={"csrf_token": hidden(page, "csrf_token")}
    )


async def test_a_cookie_replaced_long_ago_signs_nobody_out(
    core_harness: CoreHarness, user: dict[str, Any], webapp: RegisteredClient
) -> None:
    """A cookie stolen before Ana signed in again names her sign-ins only for the few minutes a
    browser that missed the answer needs (REPLACED_COOKIE_SECONDS): later, it must not sign her
    out of the sign-ins made since."""
    await signed_in_tokens(core_harness, webapp)
    stolen = core_harness.client.cookies.get(COOKIE)
    latest = await signed_in_again(core_harness, webapp)
    core_harness.clock.advance(REPLACED_COOKIE_SECONDS + 1)
    core_harness.client.cookies.clear()
    core_harness.client.cookies.set(COOKIE, stolen)  # the thief's browser

    await confirmed_logout(core_harness)

    assert await refresh(core_harness, webapp, latest["refresh_token"]) == 200


async def test_a_sign_out_reaches_a_live_sign_in_hung_under_one_that_is_over(
    core_harness: CoreHarness, user: dict[str, Any], webapp: RegisteredClient
) -> None:
    """Sessions were shortened (CORE_SESSION_MAX_SECONDS) between Ana's sign-ins: her first,
    still live, hangs under a second that is over, under a third. Signing out of the third
    ends the first too."""
    first, _ = await signed_in_tokens(core_harness, webapp)
    for again in range(2):
        core_harness.clock.advance(3600)
        await signed_in_again(core_harness, webapp)
        if again == 0:  # the second sign-in, made under the shorter limit: one day
            await core_harness.sql_value(
                "UPDATE sessions SET expires_at = created_at + interval '1 day'"
                " WHERE client_id IS NULL AND created_at = $1",
                core_harness.clock.now(),
            )
    core_harness.clock.advance(2 * 24 * 3600)

    signed_out = await confirmed_logout(core_harness)

    assert signed_out.status_code == 200
    assert await refresh(core_harness, webapp, first["refresh_token"]) == 400
    assert not await core_harness.sql_value(
        "SELECT count(*) FROM sessions WHERE revoked_at IS NULL AND expires_at > $1",
        core_harness.clock.now(),
    )
