"""What an authorization request asks of the user's presence (OpenID Connect Core 3.1.2.1):
`prompt=login` and `max_age` need a sign-in recent enough, `prompt=none` never shows a page,
`prompt=consent` always asks; and a nonce too long to keep is refused back to the client."""

from __future__ import annotations

from typing import Any

import pytest

from atriz_core.testing import CoreHarness

from .conftest import (
    RegisteredClient,
    authorize,
    authorize_params,
    code_for,
    hidden,
    pkce,
    query_of,
    register_client,
    sign_in,
)


async def signed_in(core_harness: CoreHarness, client: RegisteredClient) -> str:
    """Sign the browser in through `client`; a PKCE challenge for the next requests."""
    _, challenge = pkce()
    await code_for(core_harness, authorize_params(client, challenge))
    return challenge


def sent_to_sign_in(response: Any) -> str:
    """The `return_to` of a redirect to core's sign-in page, asking for the form even though the
    browser is signed in."""
    assert response.status_code == 303, response.text
    assert response.headers["location"].startswith("/oauth/sign-in?"), response.headers
    asked = query_of(response.headers["location"])
    assert asked["reauth"] == "1"
    return asked["return_to"]


async def test_prompt_login_gives_a_code_only_after_signing_in_again(
    core_harness: CoreHarness, user: dict[str, Any], webapp: RegisteredClient
) -> None:
    challenge = await signed_in(core_harness, webapp)
    core_harness.clock.advance(1)
    asked = await core_harness.client.get(
        "/oauth/authorize", params=authorize_params(webapp, challenge, prompt="login")
    )
    return_to = sent_to_sign_in(asked)

    skipped = await core_harness.client.get(return_to)  # the resumed request, without signing in
    again = await sign_in(core_harness, return_to, reauth=True)
    resumed = await core_harness.client.get(again.headers["location"])

    sent_to_sign_in(skipped)
    assert resumed.status_code == 302
    assert "code" in query_of(resumed.headers["location"])


async def test_max_age_asks_for_a_sign_in_once_it_has_passed(
    core_harness: CoreHarness, user: dict[str, Any], webapp: RegisteredClient
) -> None:
    challenge = await signed_in(core_harness, webapp)
    core_harness.clock.advance(600)

    recent_enough = await core_harness.client.get(
        "/oauth/authorize", params=authorize_params(webapp, challenge, max_age="3600")
    )
    too_old = await core_harness.client.get(
        "/oauth/authorize", params=authorize_params(webapp, challenge, max_age="300")
    )
    at_once = await core_harness.client.get(
        "/oauth/authorize", params=authorize_params(webapp, challenge, max_age="0")
    )
    again = await sign_in(core_harness, sent_to_sign_in(at_once), reauth=True)
    resumed = await core_harness.client.get(again.headers["location"])

    assert "code" in query_of(recent_enough.headers["location"])
    sent_to_sign_in(too_old)
    assert "code" in query_of(resumed.headers["location"])  # max_age=0 is met, not a loop


async def test_prompt_none_answers_login_required_when_the_sign_in_is_too_old(
    core_harness: CoreHarness, user: dict[str, Any], webapp: RegisteredClient
) -> None:
    challenge = await signed_in(core_harness, webapp)
    core_harness.clock.advance(600)

    response = await core_harness.client.get(
        "/oauth/authorize", params=authorize_params(webapp, challenge, prompt="none", max_age="60")
    )

    assert response.status_code == 302
    assert query_of(response.headers["location"])["error"] == "login_required"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("max_age", "-1"),
        ("max_age", "soon"),
        ("max_age", "99999999999"),
        ("signed_in_after", "1.5"),
        ("signed_in_after", "-1"),
        ("signed_in_after", "99999999999999999"),
        ("signed_in_after", "4102444800000000"),  # 2100: in the future
    ],
)
async def test_a_bad_age_condition_is_refused_back_to_the_client(
    core_harness: CoreHarness,
    user: dict[str, Any],
    webapp: RegisteredClient,
    name: str,
    value: str,
) -> None:
    challenge = await signed_in(core_harness, webapp)

    response = await core_harness.client.get(
        "/oauth/authorize", params=authorize_params(webapp, challenge, **{name: value})
    )

    assert response.status_code == 302
    answer = query_of(response.headers["location"])
    assert answer["error"] == "invalid_request"
    assert name in answer["error_description"]


async def test_prompt_none_never_shows_the_consent_page(
    core_harness: CoreHarness, user: dict[str, Any], webapp: RegisteredClient
) -> None:
    partner = await register_client(core_harness, "partner", first_party=False)
    challenge = await signed_in(core_harness, webapp)

    response = await core_harness.client.get(
        "/oauth/authorize", params=authorize_params(partner, challenge, prompt="none")
    )

    assert response.status_code == 302
    assert query_of(response.headers["location"])["error"] == "consent_required"


async def test_prompt_consent_asks_even_for_a_first_party_client(
    core_harness: CoreHarness, user: dict[str, Any], webapp: RegisteredClient
) -> None:
    challenge = await signed_in(core_harness, webapp)
    params = authorize_params(webapp, challenge, prompt="consent")

    consent = await core_harness.client.get("/oauth/authorize", params=params)
    fields = {name: hidden(consent, name) for name in (*params, "csrf_token")}
    allowed = await core_harness.client.post(
        "/oauth/authorize", data={**fields, "decision": "allow"}
    )

    assert consent.status_code == 200
    assert "Allow The webapp app?" in consent.text
    assert "code" in query_of(allowed.headers["location"])


async def test_prompt_login_consent_signs_in_then_asks(
    core_harness: CoreHarness, user: dict[str, Any], webapp: RegisteredClient
) -> None:
    challenge = await signed_in(core_harness, webapp)
    asked = await core_harness.client.get(
        "/oauth/authorize", params=authorize_params(webapp, challenge, prompt="login consent")
    )

    again = await sign_in(core_harness, sent_to_sign_in(asked), reauth=True)
    resumed = await core_harness.client.get(again.headers["location"])

    assert resumed.status_code == 200
    assert "Allow The webapp app?" in resumed.text


async def test_a_nonce_too_long_to_keep_is_refused_back_to_the_client(
    core_harness: CoreHarness, user: dict[str, Any], webapp: RegisteredClient
) -> None:
    _, challenge = pkce()

    response = await authorize(core_harness, authorize_params(webapp, challenge, nonce="n" * 513))

    assert response.status_code == 302
    answer = query_of(response.headers["location"])
    assert answer["error"] == "invalid_request"
    assert "nonce" in answer["error_description"]
    assert await core_harness.sql_value("SELECT count(*) FROM oauth_codes") == 0
