"""The code flow with PKCE, through core's real routes."""

from __future__ import annotations

from typing import Any

import jwt

from atriz_core.testing import CoreHarness

from .conftest import RegisteredClient, authorize_params, code_for, exchange, pkce


async def test_code_flow_issues_tokens_and_an_id_token(
    core_harness: CoreHarness, user: dict[str, Any], webapp: RegisteredClient
) -> None:
    verifier, challenge = pkce()
    params = authorize_params(webapp, challenge)
    code = await code_for(core_harness, params)

    response = await exchange(core_harness, webapp, code, verifier)

    assert response.status_code == 200, response.text
    body = response.json()
    claims = jwt.decode(body["id_token"], options={"verify_signature": False})
    assert claims["nonce"] == params["nonce"]
    assert claims["aud"] == [webapp.id]
    assert {"auth_time", "sid", "email", "name", "at_hash"} <= set(claims)
