"""An independent client, Authlib's own, signs in through core from the discovery document
alone, with code and PKCE, and verifies the ID token against core's JWKS as any OpenID client
does: signature (RS256), issuer, audience, expiry, nonce, `at_hash`."""

from __future__ import annotations

import secrets
import warnings
from typing import Any

import httpx
from authlib.deprecate import AuthlibDeprecationWarning
from authlib.oidc.core import CodeIDToken
from authlib.oidc.discovery import OpenIDProviderMetadata
from joserfc import jwt
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from atriz_core.testing import CoreHarness

from .conftest import RegisteredClient, authorize

with warnings.catch_warnings():
    # Authlib 1.9 prefers the `httpx2` fork when installed and warns on falling back to httpx,
    # which its client still supports, and which is what core and its tests use.
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client


async def test_authlib_client_signs_in_from_the_discovery_document(
    core_harness: CoreHarness, user: dict[str, Any], webapp: RegisteredClient
) -> None:
    transport = httpx.ASGITransport(app=core_harness.app, client=("rp.example.test", 40000))
    discovery_url = f"{core_harness.settings.public_url}/.well-known/openid-configuration"
    async with AsyncOAuth2Client(
        client_id=webapp.id,
        client_secret=webapp.secret,
        scope="openid profile email",
        redirect_uri=webapp.redirect_uri,
        code_challenge_method="S256",
        transport=transport,
    ) as client:
        metadata = OpenIDProviderMetadata(
            (await client.request("GET", discovery_url, withhold_token=True)).json()
        )
        metadata.validate()
        verifier, nonce = secrets.token_urlsafe(48), secrets.token_urlsafe(16)
        url, state = client.create_authorization_url(
            metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce
        )

        # The user's browser follows the URL, signs in at core and comes back to the client.
        callback = await authorize(core_harness, dict(httpx.URL(url).params))
        assert callback.status_code == 302, callback.text

        token = await client.fetch_token(
            metadata["token_endpoint"],
            authorization_response=callback.headers["location"],
            code_verifier=verifier,
            state=state,
        )
        jwks = (await client.request("GET", metadata["jwks_uri"], withhold_token=True)).json()
        userinfo = (await client.get(metadata["userinfo_endpoint"])).json()
        refreshed = await client.refresh_token(metadata["token_endpoint"])

    decoded = jwt.decode(
        token["id_token"],
        KeySet.import_key_set(jwks),
        registry=JWSRegistry(algorithms=metadata["id_token_signing_alg_values_supported"]),
    )
    claims = CodeIDToken(
        decoded.claims,
        decoded.header,
        {"iss": {"values": [metadata["issuer"]]}},
        {"nonce": nonce, "client_id": webapp.id, "access_token": token["access_token"]},
    )
    claims.validate(leeway=60)
    assert decoded.header["alg"] == "RS256"
    assert claims["sub"] == user["id"]
    assert claims["email"] == user["email"]
    assert {"auth_time", "sid"} <= set(claims)
    assert userinfo["sub"] == user["id"]
    assert userinfo["email"] == user["email"]
    assert refreshed["access_token"] != token["access_token"]
    assert refreshed["refresh_token"] != token["refresh_token"]
