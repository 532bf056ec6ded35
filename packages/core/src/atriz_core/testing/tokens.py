"""Signing test tokens, and forging the bad ones every protected route must refuse.

`TokenMinter` holds an Ed25519 key and signs access tokens exactly as core does (core's own
`issue_access_token`). The app under test trusts it by being built with
`minter.verifier(audience)`; core's test harness signs with the same key (the `core_settings`
fixture installs it as core's signing key), so one `token_minter` serves core and the apps.

Importing this module does not import core's service (no app, no controllers, no argon2).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from httpx import AsyncClient

from atriz_core.client.verifier import StaticKeys, TokenVerifier
from atriz_core.tokens.access import ACCESS_TOKEN_TYPE, issue_access_token
from atriz_core.tokens.keys import KeyRing, SigningKey

__all__ = [
    "TEST_AUDIENCES",
    "TEST_ISSUER",
    "TokenMinter",
    "assert_rejects_bad_tokens",
    "bad_token_failures",
    "bad_tokens",
]

TEST_ISSUER = "http://core.test"
TEST_AUDIENCES = ("website", "mextrack", "pshop")
TEST_TOKEN_SECONDS = 300


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class TokenMinter:
    """Signs access tokens like core does, with an Ed25519 key of its own (or `key`)."""

    def __init__(
        self,
        issuer: str = TEST_ISSUER,
        audiences: tuple[str, ...] = TEST_AUDIENCES,
        *,
        key: SigningKey | None = None,
    ) -> None:
        self.key = key or SigningKey(Ed25519PrivateKey.generate())
        self.issuer = issuer
        self.audiences = audiences

    @property
    def jwks(self) -> dict[str, Any]:
        """The public key set, as core's `/.well-known/jwks.json` would publish it."""
        return KeyRing((self.key,)).jwks()

    def verifier(self, audience: str, **options: Any) -> TokenVerifier:
        """A verifier that trusts this minter's key, for the app under test."""
        return TokenVerifier(
            StaticKeys(self.jwks), issuer=self.issuer, audience=audience, **options
        )

    def access_token(
        self,
        *,
        user_id: uuid.UUID,
        email: str,
        roles: Sequence[str] = (),
        session_id: uuid.UUID | None = None,
        lifetime_seconds: int = TEST_TOKEN_SECONDS,
        now: datetime | None = None,
    ) -> str:
        """A token signed by core's own `issue_access_token`: the claims core gives a user."""
        return issue_access_token(
            KeyRing((self.key,)),
            issuer=self.issuer,
            audiences=self.audiences,
            user_id=user_id,
            email=email,
            roles=roles,
            session_id=session_id or uuid.uuid4(),
            now=now or datetime.now(UTC),
            lifetime_seconds=lifetime_seconds,
        )

    def claims(
        self, *, user_id: uuid.UUID | None = None, roles: tuple[str, ...] = (), **overrides: Any
    ) -> dict[str, Any]:
        """Valid claims for a (by default random) user; `overrides` replace any of them."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": list(self.audiences),
            "sub": str(user_id or uuid.uuid4()),
            "iat": now,
            "exp": now + TEST_TOKEN_SECONDS,
            "jti": str(uuid.uuid4()),
            "sid": str(uuid.uuid4()),
            "email": "user@example.test",
            "roles": list(roles),
        }
        claims.update(overrides)
        return claims

    def mint(
        self,
        *,
        user_id: uuid.UUID | None = None,
        roles: tuple[str, ...] = (),
        headers: dict[str, Any] | None = None,
        drop: tuple[str, ...] = (),
        **overrides: Any,
    ) -> str:
        """A signed token, for tests of the verifier; `overrides` replace claims, `drop`
        removes them. For a user that exists in `atriz_shared`, use the `make_user` fixture."""
        claims = self.claims(user_id=user_id, roles=roles, **overrides)
        for name in drop:
            claims.pop(name, None)
        header = {"kid": self.key.kid, "typ": ACCESS_TOKEN_TYPE, **(headers or {})}
        return jwt.encode(claims, self.key.private_key, algorithm="EdDSA", headers=header)

    def public_pem(self) -> bytes:
        """The public key as PEM (what a confused verifier might use as an HMAC secret)."""
        return self.key.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def _unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    def part(value: dict[str, Any]) -> str:
        return _b64url(json.dumps(value).encode())

    return f"{part(header)}.{part(claims)}.{_b64url(signature)}"


def _hs256(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    # Signed by hand: pyjwt 2.10+ refuses a public key as an HMAC secret, which is the attack.
    signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64url(signature)}"


def bad_tokens(minter: TokenMinter, audience: str) -> dict[str, str]:
    """Every kind of token a route must refuse, by name."""
    now = int(time.time())
    claims = minter.claims(roles=("admin",))
    header = {"alg": "EdDSA", "kid": minter.key.kid, "typ": ACCESS_TOKEN_TYPE}
    other = TokenMinter(minter.issuer, minter.audiences)
    good = minter.mint(roles=("admin",))
    tokens = {
        "alg none": _unsigned({**header, "alg": "none"}, claims),
        "alg none, no kid": _unsigned({"alg": "none", "typ": ACCESS_TOKEN_TYPE}, claims),
        "HS256 keyed with the public key (PEM)": _hs256(
            {**header, "alg": "HS256"}, claims, minter.public_pem()
        ),
        "HS256 keyed with the public key (raw x)": _hs256(
            {**header, "alg": "HS256"}, claims, minter.key.public_x.encode()
        ),
        "ES256, a key of the attacker's": jwt.encode(
            claims,
            ec.generate_private_key(ec.SECP256R1()),
            algorithm="ES256",
            headers={"kid": minter.key.kid, "typ": ACCESS_TOKEN_TYPE},
        ),
        "signed by another key with the same kid": other.mint(
            roles=("admin",), headers={"kid": minter.key.kid}
        ),
        "unknown kid": minter.mint(headers={"kid": "no-such-key"}),
        "no kid": jwt.encode(
            claims, minter.key.private_key, algorithm="EdDSA", headers={"typ": ACCESS_TOKEN_TYPE}
        ),
        "wrong issuer": minter.mint(iss="https://evil.example"),
        "wrong audience": minter.mint(aud=["some-other-app"]),
        "audience of another app only": minter.mint(
            aud=[a for a in minter.audiences if a != audience] or ["other"]
        ),
        "wrong typ": minter.mint(headers={"typ": "JWT"}),
        "no typ": jwt.encode(
            claims, minter.key.private_key, algorithm="EdDSA", headers={"kid": minter.key.kid}
        ),
        "expired": minter.mint(iat=now - 3600, exp=now - 1800),
        "issued in the future": minter.mint(iat=now + 3600, exp=now + 4000),
        "not yet valid": minter.mint(nbf=now + 3600),
        "jwk in header": minter.mint(headers={"jwk": other.key.public_jwk()}),
        "jku in header": minter.mint(headers={"jku": "https://evil.example/jwks.json"}),
        "x5c in header": minter.mint(headers={"x5c": ["MIIB"]}),
        "unknown crit": minter.mint(headers={"crit": ["exp-ext"], "exp-ext": 1}),
        "malformed subject": minter.mint(sub="not-a-uuid"),
        "roles not a list": jwt.encode(
            {**claims, "roles": "admin"}, minter.key.private_key, algorithm="EdDSA", headers=header
        ),
        "garbage": "not.a.token",
        "empty segments": "..",
    }
    for name in ("iss", "aud", "sub", "iat", "exp", "jti", "sid", "roles", "email"):
        tokens[f"missing {name}"] = minter.mint(roles=("admin",), drop=(name,))
    # Every single-byte change to a valid token must be caught (header, claims and signature).
    for position in range(0, len(good), max(1, len(good) // 40)):
        replacement = "A" if good[position] != "A" else "B"
        mutated = good[:position] + replacement + good[position + 1 :]
        if mutated != good:
            tokens[f"byte {position} changed"] = mutated
    return tokens


async def bad_token_failures(
    client: AsyncClient,
    method: str,
    path: str,
    tokens: Mapping[str, str | None],
    **request: Any,
) -> list[str]:
    """Send `method path` once with each token (None: no Authorization header); describe each
    answer that is not a 401 with a problem details body."""
    failures = []
    for name, token in tokens.items():
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        response = await client.request(method, path, headers=headers, **request)
        try:
            body = response.json() if response.content else {}
        except ValueError:
            body = {}
        status = body.get("status") if isinstance(body, dict) else None
        if response.status_code != 401 or status != 401:
            failures.append(f"{name}: {response.status_code} {response.text[:120]}")
    return failures


async def assert_rejects_bad_tokens(
    client: AsyncClient,
    method: str,
    path: str,
    minter: TokenMinter,
    audience: str,
    **request: Any,
) -> None:
    """Every bad token, and no token at all, gets 401 with a problem details body."""
    attempts = {"no token": None, **bad_tokens(minter, audience)}
    failures = await bad_token_failures(client, method, path, attempts, **request)
    assert not failures, "tokens not refused with 401:\n" + "\n".join(failures)
