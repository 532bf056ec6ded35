"""Attacks on the code flow, each refused: PKCE missing, wrong or `plain`; a code used twice
(what it issued is revoked), presented by another client or with another redirect URI; redirect
URIs not registered or one character off (an error page, never a redirect); no `state`; a
replayed nonce; an unknown client."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from atriz_core.testing import CoreHarness

from .conftest import (
    REDIRECT_URI,
    RegisteredClient,
    authorize,
    authorize_params,
    code_for,
    exchange,
    pkce,
    query_of,
    register_client,
)


def assert_error_page(response: Any) -> None:
    """Refused at core: an HTML page, no redirect anywhere."""
    assert response.status_code == 400, response.text
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")


def assert_sent_back_with(response: Any, error: str, params: dict[str, str]) -> None:
    """Refused back to the client's registered redirect URI, with an error and no code."""
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(params["redirect_uri"] + "?")
    answer = query_of(location)
    assert answer["error"] == error
    assert "code" not in answer


async def test_a_missing_code_verifier_is_refused(
    core_harness: CoreHarness, user: dict[str, Any], webapp: RegisteredClient
) -> None:
    _, challenge = pkce()
    code = await code_for(core_harness, authorize_params(webapp, challenge))

    missing = await exchange(core_harness, webapp, code, None)

    assert missing.status_code == 400
    assert missing.json()["error"] == "invalid_request"


async def test_a_wrong_code_verifier_is_refused(
    core_harness: CoreHarness, user: dict[str, Any], webapp: RegisteredClient
) -> None:
    verifier, challenge = pkce()
    other_verifier, _ = pkce()
    code = await code_for(core_harness, authorize_params(webapp, challenge))

    wrong = await exchange(core_harness, webapp, code, other_verifier)
    right = await exchange(core_harness, webapp, code, verifier)

    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"
    assert "access_token" not in wrong.json()
    assert right.status_code == 200, "a failed check does not spend the code"


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"code_challenge_method": "plain"}, id="plain"),
        pytest.param({"code_challenge_method": None}, id="no-method-means-plain"),
        pytest.param({"code_challenge": None, "code_challenge_method": None}, id="no-pkce"),
    ],
)
async def test_authorization_without_s256_pkce_is_refused(
    core_harness: CoreHarness,
    user: dict[str, Any],
    webapp: RegisteredClient,
    overrides: dict[str, Any],
) -> None:
    _, challenge = pkce()
    params = authorize_params(webapp, challenge, **overrides)

    response = await authorize(core_harness, params)

    assert_sent_back_with(response, "invalid_request", params)


async def test_a_reused_code_is_refused_and_revokes_what_it_issued(
    core_harness: CoreHarness, user: dict[str, Any], webapp: RegisteredClient
) -> None:
    verifier, challenge = pkce()
    code = await code_for(core_harness, authorize_params(webapp, challenge))
    first = await exchange(core_harness, webapp, code, verifier)
    assert first.status_code == 200

    again = await exchange(core_harness, webapp, code, verifier)
    refresh = await core_harness.client.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": first.json()["refresh_token"]},
        auth=webapp.auth,
    )

    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"
    assert refresh.status_code == 400, "the session the code opened has ended"
    assert refresh.json()["error"] == "invalid_grant"
    # The apps hear of it and refuse the access token the first exchange gave.
    events = await core_harness.sql_value(
        "SELECT count(*) FROM user_events WHERE user_id = $1::uuid"
        " AND event_type = 'sessions_revoked'",
        user["id"],
    )
    assert events == 1


async def test_two_exchanges_of_one_code_at_once_issue_once(
    core_harness: CoreHarness, user: dict[str, Any], webapp: RegisteredClient
) -> None:
    verifier, challenge = pkce()
    code = await code_for(core_harness, authorize_params(webapp, challenge))

    answers = await asyncio.gather(
        *(exchange(core_harness, webapp, code, verifier) for _ in range(4))
    )

    assert sorted(a.status_code for a in answers) == [200, 400, 400, 400]
    assert core_harness.in_flight.peak > 1, "the exchanges overlapped"
    live = await core_harness.sql_value(
        "SELECT count(*) FROM sessions WHERE client_id = $1 AND revoked_at IS NULL", webapp.id
    )
    assert live == 0, "the replays ended the one session issued"


async def test_a_code_of_another_client_is_refused(
    core_harness: CoreHarness, user: dict[str, Any], webapp: RegisteredClient
) -> None:
    other = await register_client(core_harness, "otherapp")
    verifier, challenge = pkce()
    code = await code_for(core_harness, authorize_params(webapp, challenge))

    stolen = await exchange(core_harness, other, code, verifier)
    own = await exchange(core_harness, webapp, code, verifier)

    assert stolen.status_code == 400
    assert stolen.json()["error"] == "invalid_grant"
    assert own.status_code == 200, "nothing was spent or revoked by the other client's attempt"


async def test_a_code_is_bound_to_its_redirect_uri(
    core_harness: CoreHarness, user: dict[str, Any], webapp: RegisteredClient
) -> None:
    verifier, challenge = pkce()
    code = await code_for(core_harness, authorize_params(webapp, challenge))

    other_uri = await exchange(
        core_harness, webapp, code, verifier, redirect_uri=REDIRECT_URI + "x"
    )

    assert other_uri.status_code == 400
    assert other_uri.json()["error"] == "invalid_grant"


async def test_a_code_lives_sixty_seconds(
    core_harness: CoreHarness, user: dict[str, Any], webapp: RegisteredClient
) -> None:
    verifier, challenge = pkce()
    code = await code_for(core_harness, authorize_params(webapp, challenge))
    core_harness.clock.advance(61)

    late = await exchange(core_harness, webapp, code, verifier)

    assert late.status_code == 400
    assert late.json()["error"] == "invalid_grant"


async def test_a_wrong_client_secret_is_refused(
    core_harness: CoreHarness, user: dict[str, Any], webapp: RegisteredClient
) -> None:
    verifier, challenge = pkce()
    code = await code_for(core_harness, authorize_params(webapp, challenge))

    forged = await exchange(
        core_harness, RegisteredClient(webapp.id, "not-the-secret"), code, verifier
    )

    assert forged.status_code == 401
    assert forged.json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    "redirect_uri",
    [
        pytest.param("https://evil.example.test/auth/callback", id="not-registered"),
        pytest.param(REDIRECT_URI + "/", id="one-character-more"),
        pytest.param(REDIRECT_URI[:-1], id="one-character-less"),
        pytest.param(REDIRECT_URI.replace("callback", "callbacK"), id="one-character-changed"),
        pytest.param(REDIRECT_URI + "?next=https://evil.example.test", id="extra-query"),
    ],
)
async def test_a_redirect_uri_not_registered_exactly_gets_an_error_page(
    core_harness: CoreHarness, user: dict[str, Any], webapp: RegisteredClient, redirect_uri: str
) -> None:
    _, challenge = pkce()

    response = await core_harness.client.get(
        "/oauth/authorize", params=authorize_params(webapp, challenge, redirect_uri=redirect_uri)
    )

    assert_error_page(response)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("redirect_uri", REDIRECT_URI + "/\u00e9"),
        ("redirect_uri", REDIRECT_URI + '"'),
        ("response_type", "\u00e9"),
        ("response_type", 'co"de'),
        ("scope", "openid \\"),
        ("code_challenge_method", "S256\u00e9"),
    ],
)
async def test_a_parameter_authlib_cannot_quote_gets_an_error_page_naming_it(
    core_harness: CoreHarness, user: dict[str, Any], webapp: RegisteredClient, name: str, value: str
) -> None:
    """Authlib quotes these in its errors and refuses, with a ValueError, an error holding
    characters RFC 6749 forbids there: refused before it sees them, not with a 500."""
    _, challenge = pkce()

    response = await core_harness.client.get(
        "/oauth/authorize", params=authorize_params(webapp, challenge, **{name: value})
    )

    assert_error_page(response)
    assert f"{name} holds characters that are not allowed in it" in response.text


async def test_a_token_request_with_a_parameter_authlib_cannot_quote_is_invalid_request(
    core_harness: CoreHarness, webapp: RegisteredClient
) -> None:
    for data in ({"grant_type": "\u00e9"}, {"grant_type": "refresh_token", "scope": 'a"b'}):
        response = await core_harness.client.post("/oauth/token", data=data, auth=webapp.auth)

        assert response.status_code == 400, response.text
        assert response.json()["error"] == "invalid_request"
        assert "holds characters that are not allowed in it" in response.json()["error_description"]


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(b"Basic //46eA==", id="base64-of-bytes-that-are-not-utf8"),
        pytest.param(b"Basic \xa0", id="a-unicode-space-only"),
        pytest.param(b"Bearer \x85", id="another-scheme-a-unicode-space-only"),
    ],
)
async def test_client_credentials_that_cannot_be_read_are_refused_as_invalid_client(
    core_harness: CoreHarness, webapp: RegisteredClient, authorization: bytes
) -> None:
    response = await core_harness.client.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": "x"},
        headers={"Authorization": authorization},
    )

    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic ")


async def test_a_sign_out_parameter_authlib_cannot_quote_gets_an_error_page(
    core_harness: CoreHarness, webapp: RegisteredClient
) -> None:
    response = await core_harness.client.get(
        "/oauth/logout",
        params={"client_id": webapp.id, "post_logout_redirect_uri": "https://evil.test/\u00e9"},
    )

    assert_error_page(response)
    assert "post_logout_redirect_uri holds characters" in response.text


async def test_an_unknown_client_gets_an_error_page(
    core_harness: CoreHarness, user: dict[str, Any], webapp: RegisteredClient
) -> None:
    _, challenge = pkce()
    params = authorize_params(RegisteredClient("nobody", None), challenge)

    assert_error_page(await core_harness.client.get("/oauth/authorize", params=params))


async def test_an_authorization_request_without_state_is_refused(
    core_harness: CoreHarness, user: dict[str, Any], webapp: RegisteredClient
) -> None:
    _, challenge = pkce()
    params = authorize_params(webapp, challenge, state=None)

    response = await authorize(core_harness, params)

    assert_sent_back_with(response, "invalid_request", params)


async def test_a_replayed_nonce_is_refused(
    core_harness: CoreHarness, user: dict[str, Any], webapp: RegisteredClient
) -> None:
    _, challenge = pkce()
    first = authorize_params(webapp, challenge)
    await code_for(core_harness, first)
    replay = authorize_params(webapp, challenge, nonce=first["nonce"])

    response = await authorize(core_harness, replay)

    assert_sent_back_with(response, "invalid_request", replay)


async def test_a_public_client_needs_its_verifier_and_no_secret(
    core_harness: CoreHarness, user: dict[str, Any]
) -> None:
    public = await register_client(core_harness, "spa", public=True)
    verifier, challenge = pkce()
    code = await code_for(core_harness, authorize_params(public, challenge))

    without = await exchange(core_harness, public, code, None)
    with_verifier = await exchange(core_harness, public, code, verifier)

    assert public.secret is None
    assert without.status_code == 400
    assert with_verifier.status_code == 200, with_verifier.text
