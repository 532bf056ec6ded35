"""Verifying core's access tokens locally, with core's public keys.

Every check that matters is explicit: the algorithm is EdDSA and nothing else (no `none`, no
HS256 keyed with the public key), the header carries no key material and no extension we do not
understand, the type is `at+jwt`, and every claim is required (pyjwt requires none by default).
A verified token is cached until it expires, so an app does not pay for Ed25519 again on every
request (about 40% of a simple route's throughput on these machines). Revocation is checked on
every request, cached or not: with `revocations` (fed from `user_events`, see
`atriz_core.kit.events`), a token issued up to its user's "not before" time is refused.

Core's key set is untrusted input too: a key that cannot be read is skipped, and a document that
is not a JSON object with a `keys` list counts as a failed fetch. Without any usable key the
verifier cannot tell a good token from a bad one, so it raises `KeysUnavailableError` (an app
answers 503, try again later) rather than calling every token invalid.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from jwt.algorithms import OKPAlgorithm

from atriz_core.client.revocations import Revocations
from atriz_core.tokens.access import ACCESS_TOKEN_TYPE

__all__ = [
    "REQUIRED_CLAIMS",
    "InvalidTokenError",
    "JwksKeys",
    "KeySource",
    "KeysUnavailableError",
    "Principal",
    "RevokedTokenError",
    "StaticKeys",
    "TokenVerifier",
]

logger = logging.getLogger(__name__)

REQUIRED_CLAIMS = ("iss", "aud", "sub", "iat", "exp", "jti", "sid", "roles", "email")
_FORBIDDEN_HEADERS = frozenset({"jwk", "jku", "x5c", "x5u", "x5t", "x5t#S256", "crit"})
MAX_LEEWAY_SECONDS = 60


class InvalidTokenError(Exception):
    """The token is not a valid, current access token from core."""


class RevokedTokenError(InvalidTokenError):
    """The token is genuine, but its user's sessions ended, their roles changed or their account
    was deactivated or deleted after it was issued."""


class KeysUnavailableError(Exception):
    """No usable key of core's is at hand (never fetched, core away, or its JWKS unreadable):
    no token can be verified now, whatever it holds. Try again after `retry_after_seconds`."""

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__("core's signing keys are unavailable")
        self.retry_after_seconds = retry_after_seconds


@dataclass(frozen=True)
class Principal:
    """The user a verified access token speaks for."""

    id: uuid.UUID
    email: str
    roles: frozenset[str]
    session_id: uuid.UUID
    token_id: str
    expires_at: int
    issued_at: int
    """The token's `iat`: checked against the user's revocations on every request."""
    scope: str | None = None
    """What an OpenID Connect client was granted (`openid email`), for a token issued to one
    (RFC 9068); None for a token of `/auth/login`."""
    client_id: str | None = None
    """The OpenID Connect client the token was issued to (RFC 9068); None for `/auth/login`."""

    def has_role(self, *names: str) -> bool:
        return any(name in self.roles for name in names)


class KeySource(Protocol):
    async def key_for(self, kid: str) -> Ed25519PublicKey | None:
        """The public key named `kid`, None if there is no such key; `KeysUnavailableError` if
        the source has no usable key at all."""
        ...


def _keys_from_jwks(jwks: object) -> dict[str, Ed25519PublicKey]:
    """The Ed25519 keys of a JWKS document, by `kid`, skipping any key that cannot be read.

    `ValueError` if the document is not a JWKS at all (not an object, `keys` not a list).
    """
    if not isinstance(jwks, Mapping):
        raise ValueError("the JWKS is not a JSON object")
    entries = jwks.get("keys")
    if not isinstance(entries, list):
        raise ValueError("the JWKS has no list of keys")
    keys: dict[str, Ed25519PublicKey] = {}
    for jwk in entries:
        if not isinstance(jwk, dict) or jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
            continue  # another kind of key: not one core signs with
        kid = jwk.get("kid")
        try:
            if not isinstance(kid, str):
                raise ValueError("no kid")
            key = OKPAlgorithm.from_jwk(jwk)
        except (jwt.PyJWTError, TypeError, ValueError):
            # One bad key must not take the good ones down with it (nor the app: a 500).
            logger.warning(
                "skipping an Ed25519 key of the JWKS that cannot be read (kid %.64r)", kid
            )
            continue
        if isinstance(key, Ed25519PublicKey):  # a private key (`d`) has no place in a JWKS
            keys[kid] = key
    return keys


class StaticKeys:
    """Keys given in configuration (a JWKS document), for apps that do not fetch them."""

    def __init__(self, jwks: Mapping[str, Any]) -> None:
        self._keys = _keys_from_jwks(jwks)
        if not self._keys:
            raise ValueError("the JWKS holds no usable Ed25519 key")

    async def key_for(self, kid: str) -> Ed25519PublicKey | None:
        return self._keys.get(kid)


class JwksKeys:
    """Keys fetched from core's JWKS URL and cached.

    An unknown `kid` triggers a refetch at most once per `refetch_interval` seconds, so a flood of
    tokens with random `kid`s cannot turn into a flood of requests to core. While no usable key
    is held (core not up yet, or its JWKS unreadable) every token gets `KeysUnavailableError`, and
    the fetch is retried every `retry_interval` seconds instead, so an app started before core
    recovers within seconds.
    """

    def __init__(
        self,
        url: str,
        *,
        refetch_interval: float = 60.0,
        retry_interval: float = 5.0,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.refetch_interval = refetch_interval
        self.retry_interval = min(retry_interval, refetch_interval)
        self.fetches = 0
        self._client = client
        self._clock = clock
        self._keys: dict[str, Ed25519PublicKey] = {}
        self._last_fetch: float | None = None
        self._lock = asyncio.Lock()

    async def key_for(self, kid: str) -> Ed25519PublicKey | None:
        key = self._keys.get(kid)
        if key is not None:
            return key
        async with self._lock:  # concurrent misses share one fetch
            if kid not in self._keys and self._seconds_until_fetch() == 0:
                await self._fetch()
        if not self._keys:
            raise KeysUnavailableError(max(1, math.ceil(self._seconds_until_fetch())))
        return self._keys.get(kid)

    def _seconds_until_fetch(self) -> float:
        if self._last_fetch is None:
            return 0
        interval = self.refetch_interval if self._keys else self.retry_interval
        return max(0.0, self._last_fetch + interval - self._clock())

    async def _fetch(self) -> None:
        self._last_fetch = self._clock()
        self.fetches += 1
        try:
            if self._client is not None:
                response = await self._client.get(self.url, timeout=5.0)
            else:
                async with httpx.AsyncClient() as client:
                    response = await client.get(self.url, timeout=5.0)
            response.raise_for_status()
            keys = _keys_from_jwks(response.json())
            if not keys:
                raise ValueError("the JWKS holds no usable Ed25519 key")
        except (httpx.HTTPError, ValueError, RecursionError) as exc:
            # RecursionError: json's answer to a deeply nested document.
            # Keep the keys we have: tokens signed with them still verify while core is away.
            # The message names what was wrong, never the document's text.
            logger.warning("could not fetch core's JWKS from %s: %s", self.url, exc)
            return
        self._keys = keys


class TokenVerifier:
    """Verifies access tokens for one app (`audience`) and caches the verified ones."""

    def __init__(
        self,
        keys: KeySource,
        *,
        issuer: str,
        audience: str | Sequence[str],
        leeway_seconds: int = 30,
        cache_size: int = 10_000,
        revocations: Revocations | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not 0 <= leeway_seconds <= MAX_LEEWAY_SECONDS:
            raise ValueError(f"leeway must be between 0 and {MAX_LEEWAY_SECONDS} seconds")
        self.keys = keys
        self.issuer = issuer
        self.audience = audience if isinstance(audience, str) else list(audience)
        self.leeway_seconds = leeway_seconds
        self.revocations = revocations
        """Refused tokens by user; None: none are (an app that reads no `user_events`)."""
        self._cache_size = cache_size
        self._cache: OrderedDict[str, Principal] = OrderedDict()
        self._clock = clock

    async def verify(self, token: str) -> Principal:
        """The principal of a valid token; `InvalidTokenError` for anything else
        (`RevokedTokenError` for a genuine token its user's revocations refuse)."""
        now = self._clock()
        principal = self._cache.get(token)
        if principal is not None and now < principal.expires_at:
            self._cache.move_to_end(token)
        else:
            if principal is not None:
                del self._cache[token]
            principal = await self._verify_uncached(token, now)
            self._cache[token] = principal
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        # On every request, the cached ones included: one dictionary lookup.
        if self.revocations is not None:
            not_before = self.revocations.not_before(principal.id)
            if not_before is not None and principal.issued_at <= not_before:
                raise RevokedTokenError(
                    "the token was revoked (its user's sessions ended, roles changed or account"
                    " was deactivated since it was issued); refresh it or sign in again"
                )
        return principal

    async def _verify_uncached(self, token: str, now: float) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise InvalidTokenError("malformed token") from exc
        if header.get("alg") != "EdDSA":
            raise InvalidTokenError("token algorithm must be EdDSA")
        if header.get("typ") != ACCESS_TOKEN_TYPE:
            raise InvalidTokenError("not an access token")
        if _FORBIDDEN_HEADERS.intersection(header):
            raise InvalidTokenError("token header carries key material or extensions")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise InvalidTokenError("token has no key id")
        key = await self.keys.key_for(kid)
        if key is None:
            raise InvalidTokenError("token signed with an unknown key")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=["EdDSA"],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_seconds,
                # Times are checked below against this verifier's clock, which tests control.
                options={
                    "require": list(REQUIRED_CLAIMS),
                    "verify_signature": True,
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.InvalidTokenError as exc:
            raise InvalidTokenError(str(exc) or "invalid token") from exc
        self._check_times(claims, now)
        return _principal(claims)

    def _check_times(self, claims: Mapping[str, Any], now: float) -> None:
        leeway = self.leeway_seconds
        expires, issued, not_before = (_time(claims, n) for n in ("exp", "iat", "nbf"))
        if expires is None or now > expires + leeway:
            raise InvalidTokenError("token has expired")
        if issued is None or issued > now + leeway:
            raise InvalidTokenError("token issued in the future")
        if not_before is not None and not_before > now + leeway:
            raise InvalidTokenError("token is not valid yet")


def _time(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidTokenError(f"{name} must be a number")
    return float(value)


def _principal(claims: Mapping[str, Any]) -> Principal:
    roles = claims["roles"]
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise InvalidTokenError("roles must be a list of names")
    if not isinstance(claims["email"], str) or not isinstance(claims["jti"], str):
        raise InvalidTokenError("malformed claims")
    try:
        user_id = uuid.UUID(claims["sub"])
        session_id = uuid.UUID(claims["sid"])
    except (TypeError, ValueError, AttributeError) as exc:
        raise InvalidTokenError("malformed subject or session") from exc
    return Principal(
        id=user_id,
        email=claims["email"],
        roles=frozenset(roles),
        session_id=session_id,
        token_id=claims["jti"],
        expires_at=int(claims["exp"]),
        issued_at=int(claims["iat"]),
        scope=scope if isinstance(scope := claims.get("scope"), str) else None,
        client_id=client if isinstance(client := claims.get("client_id"), str) else None,
    )
