"""Core as one app's OpenID provider: the app as a client (`BrowserClient`), core's discovery
document and ID-token keys, the code exchange and refreshes (`OidcProvider`)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact
from litestar import Litestar, Request
from litestar.exceptions import ServiceUnavailableException

logger = logging.getLogger(__name__)

SIGN_IN_STATE_KEY = "browser_sign_in"
"""`app.state[...]`: the app's `OidcProvider`."""

SCOPE = "openid email profile"
_METADATA_RETRY_SECONDS = 5
_JWKS_REFETCH_SECONDS = 30


@dataclass(frozen=True)
class BrowserClient:
    """The app as one of core's OpenID clients."""

    service: str
    client_id: str
    client_secret: str = field(repr=False)
    public_url: str
    """Where browsers reach the app, without a trailing slash."""
    core_url: str
    """Where the app reaches core (its discovery document)."""
    issuer: str

    @property
    def redirect_uri(self) -> str:
        return f"{self.public_url}/auth/callback"

    @property
    def secure_cookies(self) -> bool:
        return self.public_url.startswith("https://")

    @property
    def _cookie_prefix(self) -> str:
        # Over https, `__Host-`: the browser then takes the cookie only from this very host,
        # with `Secure`, path `/` and no domain, so a sibling host under the same parent domain
        # (another app, a subdomain taken over) cannot plant a session or a sign-in's state of
        # its own choosing (login CSRF). Core's cookies do the same (`oidc/web.py`).
        return "__Host-" if self.secure_cookies else ""

    @property
    def session_cookie(self) -> str:
        return f"{self._cookie_prefix}atriz_{self.service}_session"

    @property
    def attempt_cookie(self) -> str:
        return f"{self._cookie_prefix}atriz_{self.service}_sign_in"


@dataclass(frozen=True)
class Tokens:
    access_token: str
    expires_in: int
    refresh_token: str | None
    id_token: str | None


class SignInFailedError(Exception):
    """Core answered the code exchange or a refresh with an error the user cannot fix here."""


class OidcProvider:
    """Core as seen by one app: its discovery document (fetched once) and its ID-token keys
    (fetched again, at most every 30 s, when a token names a key not yet seen)."""

    def __init__(self, client: BrowserClient, http: httpx.AsyncClient) -> None:
        self.client = client
        self.http = http
        self._metadata: dict[str, Any] | None = None
        self._keys: KeySet | None = None
        self._keys_fetched_at = 0.0
        self._lock = asyncio.Lock()

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            async with self._lock:
                if self._metadata is None:
                    self._metadata = await self._fetch_metadata()
        return self._metadata

    async def _fetch_metadata(self) -> dict[str, Any]:
        url = f"{self.client.core_url}/.well-known/openid-configuration"
        try:
            answer = await self.http.get(url)
            answer.raise_for_status()
            document = answer.json()
        except (httpx.HTTPError, ValueError) as exc:
            logger.warning("core's OpenID discovery document unavailable: %s", type(exc).__name__)
            raise _unavailable() from exc
        if not isinstance(document, dict) or document.get("issuer") != self.client.issuer:
            # Another issuer's metadata would let it mint ID tokens this app believes.
            logger.error("core's discovery document names another issuer")
            raise _unavailable()
        return document

    async def authorization_url(self, state: str, nonce: str, code_verifier: str) -> str:
        endpoint = (await self.metadata())["authorization_endpoint"]
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.client.client_id,
                "redirect_uri": self.client.redirect_uri,
                "scope": SCOPE,
                "state": state,
                "nonce": nonce,
                "code_challenge": _s256(code_verifier),
                "code_challenge_method": "S256",
            }
        )
        return f"{endpoint}?{query}"

    async def end_session_url(self, id_token: str | None) -> str:
        metadata = await self.metadata()
        endpoint = metadata.get("end_session_endpoint")
        if not endpoint:
            return f"{self.client.public_url}/"
        query = {
            "client_id": self.client.client_id,
            "post_logout_redirect_uri": f"{self.client.public_url}/",
        }
        if id_token:
            query["id_token_hint"] = id_token
        return f"{endpoint}?{urlencode(query)}"

    async def exchange_code(self, code: str, code_verifier: str) -> Tokens:
        return await self._token_request(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.client.redirect_uri,
                "code_verifier": code_verifier,
            }
        )

    async def refresh(self, refresh_token: str) -> Tokens:
        return await self._token_request(
            {"grant_type": "refresh_token", "refresh_token": refresh_token}
        )

    async def _token_request(self, form: dict[str, str]) -> Tokens:
        endpoint = (await self.metadata())["token_endpoint"]
        try:
            answer = await self.http.post(
                endpoint, data=form, auth=(self.client.client_id, self.client.client_secret)
            )
        except httpx.HTTPError as exc:
            raise _unavailable() from exc
        if answer.status_code >= 500:
            raise _unavailable()
        try:
            body = answer.json()
        except ValueError as exc:
            raise _unavailable() from exc
        if answer.status_code != 200 or not isinstance(body, dict):
            # The error code only: the description may quote what was sent.
            error = body.get("error") if isinstance(body, dict) else None
            raise SignInFailedError(str(error or answer.status_code))
        try:
            return Tokens(
                access_token=str(body["access_token"]),
                expires_in=int(body.get("expires_in", 60)),
                refresh_token=body.get("refresh_token"),
                id_token=body.get("id_token"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SignInFailedError("malformed token response") from exc

    async def id_token_claims(self, id_token: str, nonce: str) -> dict[str, Any]:
        """The ID token's claims, once its signature (RS256, core's key), issuer, audience,
        expiry and nonce are checked; `SignInFailedError` otherwise."""
        keys = await self._keys_for(id_token)
        try:
            token = jwt.decode(id_token, keys, algorithms=["RS256"])
            jwt.JWTClaimsRegistry(
                leeway=60,
                iss={"essential": True, "value": self.client.issuer},
                aud={"essential": True, "value": self.client.client_id},
                sub={"essential": True},
                exp={"essential": True},
                iat={"essential": True},
                nonce={"essential": True, "value": nonce},
            ).validate(token.claims)
        except (JoseError, ValueError) as exc:
            raise SignInFailedError(f"ID token refused: {type(exc).__name__}") from exc
        audience = token.claims["aud"]
        several = isinstance(audience, list) and len(audience) > 1
        if several and token.claims.get("azp") != self.client.client_id:
            raise SignInFailedError("ID token for several audiences without our azp")
        return dict(token.claims)

    async def _keys_for(self, id_token: str) -> KeySet:
        kid = _header_kid(id_token)
        stale = time.monotonic() - self._keys_fetched_at > _JWKS_REFETCH_SECONDS
        if self._keys is None or (stale and not _has_kid(self._keys, kid)):
            uri = (await self.metadata())["jwks_uri"]
            try:
                answer = await self.http.get(uri)
                answer.raise_for_status()
                self._keys = KeySet.import_key_set(answer.json())
            except (httpx.HTTPError, ValueError, JoseError) as exc:
                raise _unavailable() from exc
            self._keys_fetched_at = time.monotonic()
        return self._keys


def _header_kid(token: str) -> str | None:
    try:
        header = extract_compact(token.encode()).headers()
    except (JoseError, ValueError):  # unreadable: refused by the decode that follows
        return None
    kid = header.get("kid")
    return kid if isinstance(kid, str) else None


def _has_kid(keys: KeySet, kid: str | None) -> bool:
    return kid is not None and any(key.kid == kid for key in keys.keys)


def _unavailable() -> ServiceUnavailableException:
    return ServiceUnavailableException(
        "core's sign-in is unavailable", headers={"Retry-After": str(_METADATA_RETRY_SECONDS)}
    )


def _s256(code_verifier: str) -> str:
    digest = hashlib.sha256(code_verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def provider_of(request: Request[Any, Any, Any]) -> OidcProvider:
    provider: OidcProvider = request.app.state[SIGN_IN_STATE_KEY]
    return provider


def browser_sign_in(client: BrowserClient) -> Any:
    """The lifespan that puts the app's `OidcProvider` in `app.state` (with an HTTP client of
    its own, closed on shutdown)."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=10) as http:
            app.state[SIGN_IN_STATE_KEY] = OidcProvider(client, http)
            yield

    return lifespan
