"""A third-party client's tokens: after the user's consent it may read who the user is, as far
as the scope granted goes, and nothing more; no app and no other route of core takes its token,
whoever the user is (an administrator here)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import jwt
import pytest

from atriz_core.testing import CoreHarness

from .conftest import (
    EMAIL,
    RegisteredClient,
    authorize,
    authorize_params,
    code_for,
    exchange,
    hidden,
    pkce,
    query_of,
    refresh,
    register_client,
    signed_in_again,
)


async def consented_tokens(
    core_harness: CoreHarness, client: RegisteredClient, scope: str, **overrides: str
) -> dict[str, Any]:
    """The user signs in, allows `client` on the consent page (its form's every field, as a
    browser sends them); the code exchanged."""
    verifier, challenge = pkce()
    params = authorize_params(client, challenge, scope=scope, **overrides)
    consent = await authorize(core_harness, params)
    assert consent.status_code == 200, consent.text
    names = re.findall(r'<input type="hidden" name="([^"]+)"', consent.text)
    fields = {name: hidden(consent, name) for name in names}
    allowed = await core_harness.client.post(
        "/oauth/authorize", data={**fields, "decision": "allow"}
    )
    assert allowed.status_code == 302, allowed.text
    code = query_of(allowed.headers["location"])["code"]
    response = await exchange(core_harness, client, code, verifier)
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


def claims_of(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


@pytest.fixture
async def partner(core_harness: CoreHarness) -> RegisteredClient:
    """A third-party client: the user is asked for consent."""
    return await register_client(core_harness, "partner", first_party=False)


async def an_administrator(core_harness: CoreHarness) -> None:
    await core_harness.register(email=EMAIL, name="Ana")
    await core_harness.sql_rows(
        "INSERT INTO user_roles (user_id, role_id) SELECT u.id, r.id FROM users u, roles r"
        " WHERE u.email = $1 AND r.name = 'admin'",
        EMAIL,
    )


async def test_a_third_party_token_reads_who_the_user_is_and_nothing_more(
    core_harness: CoreHarness, partner: RegisteredClient
) -> None:
    await an_administrator(core_harness)

    tokens = await consented_tokens(core_harness, partner, "openid")

    claims = claims_of(tokens["access_token"])
    assert claims["aud"] == [core_harness.settings.issuer]
    assert not set(claims["aud"]) & set(core_harness.settings.audiences)  # no app takes it
    assert claims["roles"] == []
    assert claims["email"] == ""  # the e-mail was not granted
    assert claims["client_id"] == "partner"
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    for method, path in (
        ("GET", "/admin/users"),
        ("GET", "/admin/clients"),
        ("GET", "/auth/me"),
        ("POST", "/auth/logout-all"),
    ):
        refused = await core_harness.client.request(method, path, headers=headers)
        assert refused.status_code == 401, (path, refused.text)
    userinfo = await core_harness.client.get("/oauth/userinfo", headers=headers)
    assert userinfo.status_code == 200, userinfo.text
    assert set(userinfo.json()) == {"sub"}

    refreshed = await core_harness.client.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=partner.auth,
    )
    assert refreshed.status_code == 200, refreshed.text
    again = claims_of(refreshed.json()["access_token"])
    assert (again["aud"], again["roles"], again["email"]) == (
        [core_harness.settings.issuer],
        [],
        "",
    )
    refused = await core_harness.client.get(
        "/admin/users", headers={"Authorization": f"Bearer {refreshed.json()['access_token']}"}
    )
    assert refused.status_code == 401


async def test_a_third_party_token_carries_the_email_only_with_the_email_scope(
    core_harness: CoreHarness, partner: RegisteredClient
) -> None:
    await an_administrator(core_harness)

    tokens = await consented_tokens(core_harness, partner, "openid email")

    assert claims_of(tokens["access_token"])["email"] == EMAIL
    userinfo = await core_harness.client.get(
        "/oauth/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert userinfo.status_code == 200, userinfo.text
    assert userinfo.json()["email"] == EMAIL
    assert "roles" not in userinfo.json()


async def test_a_first_party_token_still_serves_the_apps(
    core_harness: CoreHarness, webapp: RegisteredClient
) -> None:
    await an_administrator(core_harness)
    verifier, challenge = pkce()
    params = authorize_params(webapp, challenge)
    signed_in = await authorize(core_harness, params)  # no consent page: first-party
    code = query_of(signed_in.headers["location"])["code"]
    tokens = (await exchange(core_harness, webapp, code, verifier)).json()

    claims = claims_of(tokens["access_token"])
    assert set(claims["aud"]) == set(core_harness.settings.audiences)
    assert claims["roles"] == ["admin", "user"]
    assert claims["email"] == EMAIL
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert (await core_harness.client.get("/admin/users", headers=headers)).status_code == 200
    for method in ("GET", "POST"):
        userinfo = await core_harness.client.request(method, "/oauth/userinfo", headers=headers)
        assert userinfo.status_code == 200, userinfo.text
        assert userinfo.json()["roles"] == ["admin", "user"]


async def test_a_third_party_client_signing_out_without_the_browser_ends_only_its_sessions(
    core_harness: CoreHarness, webapp: RegisteredClient, partner: RegisteredClient
) -> None:
    """The client calls core's logout from its own server with the user's ID token (no cookie
    of core): its own session ends, the user's sign-in at core and at every other app stays."""
    await core_harness.register(email=EMAIL, name="Ana")
    tokens = await consented_tokens(core_harness, partner, "openid")
    browser = httpx.Cookies(core_harness.client.cookies)
    core_harness.client.cookies.clear()

    out = await core_harness.client.get(
        "/oauth/logout", params={"id_token_hint": tokens["id_token"]}
    )

    assert out.status_code == 200, out.text
    assert await refresh(core_harness, partner, tokens["refresh_token"]) == 400
    userinfo = await core_harness.client.get(
        "/oauth/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert userinfo.status_code == 401
    core_harness.client.cookies = browser
    authorized = await core_harness.client.get(
        "/oauth/authorize", params=authorize_params(webapp, pkce()[1])
    )
    assert authorized.status_code == 302, authorized.text  # still signed in at core
    assert "code=" in authorized.headers["location"]
    assert not await core_harness.sql_value(
        "SELECT count(*) FROM user_events WHERE event_type = 'sessions_revoked'"
    )


async def test_a_third_party_client_signing_out_after_a_sign_in_again_ends_its_sessions(
    core_harness: CoreHarness, webapp: RegisteredClient, partner: RegisteredClient
) -> None:
    """The user signed in again since the client got its ID token: the client's logout from its
    server still ends its own sessions (they hang under the earlier sign-in, which the new one
    replaced), and nothing else."""
    await core_harness.register(email=EMAIL, name="Ana")
    tokens = await consented_tokens(core_harness, partner, "openid")
    await signed_in_again(core_harness, webapp)
    core_harness.client.cookies.clear()

    out = await core_harness.client.get(
        "/oauth/logout", params={"id_token_hint": tokens["id_token"]}
    )

    assert out.status_code == 200, out.text
    assert await refresh(core_harness, partner, tokens["refresh_token"]) == 400
    assert (
        await core_harness.sql_value(
            "SELECT count(*) FROM sessions WHERE client_id = 'webapp' AND revoked_at IS NULL"
        )
        == 1
    )


async def test_a_third_party_clients_logout_ends_its_sessions_under_every_sign_in_of_the_browser(
    core_harness: CoreHarness, webapp: RegisteredClient, partner: RegisteredClient
) -> None:
    """The client got tokens at the user's first sign-in and, after a `prompt=login`, at the
    second; its logout from its server with its latest ID token ends both of its sessions (the
    first hangs under the second sign-in), and no other client's."""
    await core_harness.register(email=EMAIL, name="Ana")
    first = await consented_tokens(core_harness, partner, "openid")
    second = await consented_tokens(core_harness, partner, "openid", prompt="login")
    core_harness.client.cookies.clear()

    out = await core_harness.client.get(
        "/oauth/logout", params={"id_token_hint": second["id_token"]}
    )

    assert out.status_code == 200, out.text
    for tokens in (first, second):
        assert await refresh(core_harness, partner, tokens["refresh_token"]) == 400


async def test_a_removed_third_party_clients_id_token_ends_nothing(
    core_harness: CoreHarness, webapp: RegisteredClient, partner: RegisteredClient
) -> None:
    """A client removed (for abuse, say) still holds an ID token of the user's sign-in: from its
    server (no cookie of core) it must not end the user's sign-in and the other apps'."""
    await core_harness.register(email=EMAIL, name="Ana")
    theirs = await consented_tokens(core_harness, partner, "openid")
    verifier, challenge = pkce()
    code = await code_for(core_harness, authorize_params(webapp, challenge))
    ours = (await exchange(core_harness, webapp, code, verifier)).json()
    admin = await core_harness.admin_headers()
    removed = await core_harness.client.delete(f"/admin/clients/{partner.id}", headers=admin)
    assert removed.status_code == 204, removed.text
    core_harness.client.cookies.clear()

    out = await core_harness.client.get(
        "/oauth/logout", params={"id_token_hint": theirs["id_token"]}
    )

    assert out.status_code == 200, out.text
    assert await refresh(core_harness, webapp, ours["refresh_token"]) == 200


async def test_an_id_token_of_a_sign_in_over_ends_none_of_the_clients_later_sessions(
    core_harness: CoreHarness, webapp: RegisteredClient, partner: RegisteredClient
) -> None:
    """The user signed in again every 20 days; the client's first ID token (its sign-in over),
    from a logout link in a history or a log, must not end the client's sessions since."""
    await core_harness.register(email=EMAIL, name="Ana")
    first = await consented_tokens(core_harness, partner, "openid")
    latest = first
    for _ in range(3):
        core_harness.clock.advance(20 * 24 * 3600)
        latest = await consented_tokens(core_harness, partner, "openid", prompt="login")
    core_harness.client.cookies.clear()

    out = await core_harness.client.get(
        "/oauth/logout", params={"id_token_hint": first["id_token"]}
    )

    assert out.status_code == 200, out.text
    assert await refresh(core_harness, partner, latest["refresh_token"]) == 200
