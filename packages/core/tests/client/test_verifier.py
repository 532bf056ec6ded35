"""The client side every app uses: token verification, guards, JWKS fetching and caching."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
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
from atriz_core.client.verifier import KeysUnavailableError
from atriz_core.kit.problems import EXCEPTION_HANDLERS
from atriz_core.testing import CoreHarness, TokenMinter, assert_rejects_bad_tokens


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


JWKS_URL = "https://core.test/.well-known/jwks.json"
SECRET_IN_DOCUMENT = "do-not-log-this-document"


class JwksServer:
    """Core's JWKS URL as an httpx transport: answers the bodies it is given, the last for good."""

    def __init__(self, *bodies: object) -> None:
        self.bodies = list(bodies)

    def handle(self, request: httpx.Request) -> httpx.Response:
        assert str(request.url) == JWKS_URL
        body = self.bodies.pop(0) if len(self.bodies) > 1 else self.bodies[0]
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return httpx.Response(200, content=content, headers={"content-type": "application/json"})

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handle))


def bad_ed25519_keys() -> list[Any]:
    """Entries of a `keys` list that look like core's keys but cannot be read."""
    return [
        {"kty": "OKP", "crv": "Ed25519", "kid": "no-x"},
        {"kty": "OKP", "crv": "Ed25519", "kid": "x-a-number", "x": 5},
        {"kty": "OKP", "crv": "Ed25519", "kid": "x-a-list", "x": ["a"]},
        {"kty": "OKP", "crv": "Ed25519", "kid": "x-too-short", "x": "AAAA"},
        {"kty": "OKP", "crv": "Ed25519", "kid": "x-not-base64", "x": "é" * 43},
        {"kty": "OKP", "crv": "Ed25519", "kid": 7, "x": "A" * 43},
        {"kty": "OKP", "crv": "Ed25519", "x": "A" * 43},
        "a string",
        None,
    ]


GARBAGE_DOCUMENTS = {
    "not JSON": f"<html>{SECRET_IN_DOCUMENT}: core is down</html>".encode(),
    "not UTF-8": b"\xff\xfe{" + SECRET_IN_DOCUMENT.encode(),
    "nested too deep for json": b"[" * 100_000,
    "a list": [{"kid": SECRET_IN_DOCUMENT}],
    "a string": SECRET_IN_DOCUMENT,
    "no keys": {"other": SECRET_IN_DOCUMENT},
    "keys not a list": {"keys": {"kid": SECRET_IN_DOCUMENT}},
    "keys a number": {"keys": 5},
    "only bad keys": {"keys": bad_ed25519_keys()},
    "no key of core's kind": {"keys": [{"kty": "RSA", "kid": SECRET_IN_DOCUMENT, "n": "x"}]},
}


@pytest.mark.parametrize("document", GARBAGE_DOCUMENTS.values(), ids=GARBAGE_DOCUMENTS.keys())
async def test_an_unreadable_jwks_means_keys_unavailable_not_an_error(
    token_minter: TokenMinter, caplog: pytest.LogCaptureFixture, document: object
) -> None:
    async with JwksServer(document).client() as client:
        verifier = TokenVerifier(
            JwksKeys(JWKS_URL, client=client), issuer=token_minter.issuer, audience="pshop"
        )
        with caplog.at_level(logging.WARNING), pytest.raises(KeysUnavailableError) as raised:
            await verifier.verify(token_minter.mint())

    assert raised.value.retry_after_seconds == 5
    assert "could not fetch core's JWKS" in caplog.text
    assert SECRET_IN_DOCUMENT not in caplog.text


async def test_a_bad_key_beside_a_good_one_leaves_the_good_one_usable(
    token_minter: TokenMinter, caplog: pytest.LogCaptureFixture
) -> None:
    document = {"keys": [*bad_ed25519_keys(), *token_minter.jwks["keys"]]}
    async with JwksServer(document).client() as client:
        verifier = TokenVerifier(
            JwksKeys(JWKS_URL, client=client), issuer=token_minter.issuer, audience="pshop"
        )
        with caplog.at_level(logging.WARNING):
            principal = await verifier.verify(token_minter.mint(email="ana@example.test"))

    assert principal.email == "ana@example.test"
    assert "kid 'x-a-number'" in caplog.text
    assert StaticKeys(document)  # configured keys skip the bad ones the same way


async def test_garbage_after_a_good_fetch_keeps_the_keys_it_had(token_minter: TokenMinter) -> None:
    now = [0.0]
    async with JwksServer(token_minter.jwks, b"garbage").client() as client:
        keys = JwksKeys(JWKS_URL, client=client, refetch_interval=60, clock=lambda: now[0])
        verifier = TokenVerifier(keys, issuer=token_minter.issuer, audience="pshop")
        await verifier.verify(token_minter.mint())
        now[0] += 61

        # An unknown kid refetches and gets garbage: the token is simply not ours (401) ...
        with pytest.raises(InvalidTokenError, match="unknown key"):
            await verifier.verify(token_minter.mint(headers={"kid": "rotated-away"}))
        # ... and tokens of the keys fetched before still verify.
        await verifier.verify(token_minter.mint())

    assert keys.fetches == 2


async def test_without_keys_the_fetch_is_retried_soon_not_on_every_token(
    token_minter: TokenMinter,
) -> None:
    now = [0.0]
    async with JwksServer(b"core is starting", token_minter.jwks).client() as client:
        keys = JwksKeys(JWKS_URL, client=client, retry_interval=5, clock=lambda: now[0])
        verifier = TokenVerifier(keys, issuer=token_minter.issuer, audience="pshop")
        with pytest.raises(KeysUnavailableError) as first:
            await verifier.verify(token_minter.mint())
        now[0] += 3
        with pytest.raises(KeysUnavailableError) as second:
            await verifier.verify(token_minter.mint())
        fetches_while_waiting = keys.fetches
        now[0] += 2
        principal = await verifier.verify(token_minter.mint(email="ana@example.test"))

    assert (first.value.retry_after_seconds, second.value.retry_after_seconds) == (5, 2)
    assert fetches_while_waiting == 1
    assert principal.email == "ana@example.test"
    assert keys.fetches == 2


async def test_core_unreachable_means_keys_unavailable(token_minter: TokenMinter) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as client:
        verifier = TokenVerifier(
            JwksKeys(JWKS_URL, client=client), issuer=token_minter.issuer, audience="pshop"
        )
        with pytest.raises(KeysUnavailableError):
            await verifier.verify(token_minter.mint())


@pytest.mark.parametrize(
    "document",
    [[], {"keys": None}, {"keys": []}, {"keys": bad_ed25519_keys()}],
    ids=["a list", "keys null", "no keys", "only bad keys"],
)
def test_configured_keys_that_are_unusable_stop_the_start(document: Any) -> None:
    with pytest.raises(ValueError, match="JWKS"):
        StaticKeys(document)
