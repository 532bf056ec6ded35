"""The client side every app uses: token verification, guards, JWKS fetching and caching."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from joserfc import jwt as jose_jwt
from joserfc.errors import SecurityWarning
from joserfc.jwk import KeySet
from litestar import Litestar, get
from litestar.testing import AsyncTestClient

from atriz_core.client import (
    AtrizAuth,
    CurrentUser,
    InvalidTokenError,
    JwksKeys,
    StaticKeys,
    TokenVerifier,
    requires_role,
    requires_signed_in,
)
from atriz_core.testing import CoreHarness, TokenMinter, assert_rejects_bad_tokens
from atriz_core.web.problems import EXCEPTION_HANDLERS


@get("/things", guards=[requires_signed_in])
async def list_things(current_user: CurrentUser) -> dict[str, Any]:
    return {"user": str(current_user.id), "roles": sorted(current_user.roles)}


@get("/stock", guards=[requires_role("pshop.manager", "admin")])
async def manage_stock() -> dict[str, str]:
    return {"ok": "yes"}


@pytest.fixture
async def app_client(token_minter: TokenMinter) -> AsyncIterator[AsyncTestClient[Litestar]]:
    app = Litestar(
        route_handlers=[list_things, manage_stock],
        plugins=[AtrizAuth(token_minter.verifier("pshop"))],
        exception_handlers=EXCEPTION_HANDLERS,
    )
    async with AsyncTestClient(app=app) as client:
        yield client


async def test_a_valid_token_exposes_the_user(
    app_client: AsyncTestClient[Litestar], token_minter: TokenMinter
) -> None:
    user_id = uuid.uuid4()
    token = token_minter.mint(user_id=user_id, roles=("pshop.cashier",))

    response = await app_client.get("/things", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 200
    assert response.json() == {"user": str(user_id), "roles": ["pshop.cashier"]}


async def test_a_missing_role_is_403(
    app_client: AsyncTestClient[Litestar], token_minter: TokenMinter
) -> None:
    cashier = token_minter.mint(roles=("pshop.cashier",))
    manager = token_minter.mint(roles=("pshop.manager",))

    denied = await app_client.get("/stock", headers={"Authorization": f"Bearer {cashier}"})
    allowed = await app_client.get("/stock", headers={"Authorization": f"Bearer {manager}"})

    assert denied.status_code == 403
    assert denied.json()["detail"] == "requires role pshop.manager or admin"
    assert allowed.status_code == 200


@pytest.mark.parametrize("path", ["/things", "/stock"])
async def test_every_bad_token_is_refused_with_401(
    app_client: AsyncTestClient[Litestar], token_minter: TokenMinter, path: str
) -> None:
    await assert_rejects_bad_tokens(app_client, "GET", path, token_minter, audience="pshop")


@pytest.mark.parametrize("scheme", ["Basic abc", "Bearer", "Bearer ", "Token x.y.z"])
async def test_malformed_authorization_headers_are_401(
    app_client: AsyncTestClient[Litestar], scheme: str
) -> None:
    response = await app_client.get("/things", headers={"Authorization": scheme})
    assert response.status_code == 401


class CountingKeys:
    """A key source that counts lookups, to see when the verifier skips verification."""

    def __init__(self, inner: StaticKeys) -> None:
        self.inner = inner
        self.lookups = 0

    async def key_for(self, kid: str) -> Ed25519PublicKey | None:
        self.lookups += 1
        return await self.inner.key_for(kid)


async def test_verified_tokens_are_cached_until_they_expire(token_minter: TokenMinter) -> None:
    now = [1_000_000.0]
    keys = CountingKeys(StaticKeys(token_minter.jwks))
    verifier = TokenVerifier(
        keys, issuer=token_minter.issuer, audience="pshop", clock=lambda: now[0], leeway_seconds=0
    )
    token = token_minter.mint(iat=int(now[0]), exp=int(now[0]) + 60)

    first = await verifier.verify(token)
    second = await verifier.verify(token)
    now[0] += 61

    assert first == second
    assert keys.lookups == 1
    with pytest.raises(InvalidTokenError):
        await verifier.verify(token)  # past `exp`: the cached entry is not trusted


async def test_cache_is_bounded(token_minter: TokenMinter) -> None:
    keys = CountingKeys(StaticKeys(token_minter.jwks))
    verifier = TokenVerifier(keys, issuer=token_minter.issuer, audience="pshop", cache_size=2)
    tokens = [token_minter.mint() for _ in range(3)]
    for token in tokens:
        await verifier.verify(token)

    await verifier.verify(tokens[0])  # evicted by the third, so verified again

    assert keys.lookups == 4


def test_leeway_above_a_minute_is_refused(token_minter: TokenMinter) -> None:
    with pytest.raises(ValueError, match="leeway"):
        token_minter.verifier("pshop", leeway_seconds=61)


async def test_core_tokens_verify_through_the_jwks_url(core_harness: CoreHarness) -> None:
    await core_harness.register()
    tokens = await core_harness.login()
    keys = JwksKeys("https://auth.atriz.test/.well-known/jwks.json", client=core_harness.client)
    verifier = TokenVerifier(keys, issuer=core_harness.settings.issuer, audience="mextrack")

    principal = await verifier.verify(tokens["access_token"])

    assert principal.email == "ana@example.test"
    assert principal.roles == frozenset({"user"})
    assert keys.fetches == 1


async def test_random_kids_cannot_flood_core_with_jwks_requests(
    core_harness: CoreHarness, token_minter: TokenMinter
) -> None:
    now = [0.0]
    keys = JwksKeys(
        "https://auth.atriz.test/.well-known/jwks.json",
        client=core_harness.client,
        refetch_interval=60,
        clock=lambda: now[0],
    )
    verifier = TokenVerifier(keys, issuer=token_minter.issuer, audience="pshop")

    for _ in range(50):
        with pytest.raises(InvalidTokenError, match="unknown key"):
            await verifier.verify(token_minter.mint(headers={"kid": uuid.uuid4().hex}))
    assert keys.fetches == 1
    now[0] += 61
    with pytest.raises(InvalidTokenError):
        await verifier.verify(token_minter.mint(headers={"kid": uuid.uuid4().hex}))
    assert keys.fetches == 2


async def test_an_independent_jose_library_verifies_a_real_token(
    core_harness: CoreHarness,
) -> None:
    await core_harness.register()
    tokens = await core_harness.login()
    jwks = (await core_harness.client.get("/.well-known/jwks.json")).json()

    # RFC 9864 deprecates the name "EdDSA" in favour of "Ed25519"; the design (and pyjwt)
    # still use "EdDSA", so joserfc verifies it with a warning.
    with pytest.warns(SecurityWarning, match="RFC 9864"):
        decoded = jose_jwt.decode(
            tokens["access_token"], KeySet.import_key_set(jwks), algorithms=["EdDSA"]
        )

    assert decoded.header["alg"] == "EdDSA"
    assert decoded.header["typ"] == "at+jwt"
    assert decoded.header["kid"] == jwks["keys"][0]["kid"]
    assert decoded.claims["iss"] == core_harness.settings.issuer
    assert set(decoded.claims) >= {"iss", "aud", "sub", "iat", "exp", "jti", "sid", "roles"}
    assert decoded.claims["exp"] - decoded.claims["iat"] <= 900


async def test_access_tokens_carry_every_claim(core_harness: CoreHarness) -> None:
    await core_harness.register()
    tokens = await core_harness.login()

    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})

    assert claims["aud"] == ["website", "mextrack", "pshop"]
    assert claims["roles"] == ["user"]
    uuid.UUID(claims["sub"])
    uuid.UUID(claims["sid"])
