"""Access tokens: short-lived JWTs signed with the current Ed25519 key."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import jwt

from atriz_core.tokens.keys import KeyRing, SigningKey

__all__ = ["ACCESS_TOKEN_TYPE", "issue_access_token"]

# RFC 9068: lets verifiers refuse any other kind of JWT (an ID token, another service's token).
ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 - a media type, not a secret


def issue_access_token(
    keyring: KeyRing[SigningKey],
    *,
    issuer: str,
    audiences: Sequence[str],
    user_id: uuid.UUID,
    email: str,
    roles: Sequence[str],
    session_id: uuid.UUID,
    now: datetime,
    lifetime_seconds: int,
    client_id: str | None = None,
    scope: str | None = None,
) -> str:
    """A signed access token for one user and session; for an OpenID Connect client's
    session also `client_id` and `scope` (RFC 9068), which `/oauth/userinfo` reads."""
    issued_at = int(now.timestamp())
    key = keyring.signing(now)
    claims = {
        "iss": issuer,
        "aud": list(audiences),
        "sub": str(user_id),
        "iat": issued_at,
        "exp": issued_at + lifetime_seconds,
        "jti": str(uuid.uuid4()),
        "sid": str(session_id),
        "email": email,
        "roles": sorted(roles),
    }
    if client_id is not None:
        claims["client_id"] = client_id
    if scope is not None:
        claims["scope"] = scope
    return jwt.encode(
        claims,
        key.private_key,
        algorithm="EdDSA",
        headers={"kid": key.kid, "typ": ACCESS_TOKEN_TYPE},
    )
