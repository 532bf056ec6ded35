"""Authlib's authorization server, adapted to core: the protocol's checks are Authlib's.

Authlib validates every request of the flow: the client and its exact redirect URI, the
response type, the scope, PKCE (`CodeChallenge`, here S256 only and required of every client),
OpenID Connect's nonce and prompt (`OpenIDCode`), the client's authentication at the token
endpoint (secret by HTTP Basic or form, or none for a public client), the code's binding to
client and redirect URI, the refresh token's binding to its client, RP-initiated logout's
`id_token_hint` and `post_logout_redirect_uri` (`EndSessionEndpoint`), and it writes the
answers, errors included, as the specifications word them. Authlib signs the ID token too.

Authlib's server is synchronous and calls its storage hooks in the middle of a request, while
core's storage is asyncpg. So each endpoint runs in three steps, and Authlib never waits on the
database: the controller loads what the hooks will ask for (the client, the code, whether the
nonce was used) into a `Prepared`; Authlib validates; the controller acts (spends the code and
opens the session, stores a new code, ends a session) in core's services; Authlib writes the
answer from what was issued. One `Provider` per request holds that request's `Prepared`.

Unlike Authlib's defaults: a request without `state` is refused (the client's only defence
against a forged callback), a nonce seen before is refused, and the client's redirect URI must
be named in every authorization request (no default).
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    ClientMixin,
    InvalidRequestError,
    OAuth2Payload,
    OAuth2Request,
)
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant, RefreshTokenGrant
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import AuthorizationCodeMixin, UserInfo
from authlib.oidc.core.grants import OpenIDCode
from authlib.oidc.rpinitiated import EndSessionEndpoint
from joserfc.jwk import KeySet, RSAKey

from atriz_core.accounts.schemas import TokenPair
from atriz_core.clients.repository import ClientRecord
from atriz_core.clients.services import secret_matches
from atriz_core.context import Core
from atriz_core.oidc.repository import BrowserSession, CodeRecord, OpenedSession
from atriz_core.tokens.keys import RsaSigningKey

__all__ = [
    "SCOPES",
    "IssuedUser",
    "OAuthRequest",
    "OAuthResponse",
    "PendingCode",
    "Prepared",
    "Provider",
    "user_claims",
]

SCOPES = ("openid", "profile", "email")
"""The scopes core grants: `openid` (an ID token, `sub`), `profile` (`name`), `email`."""
CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]


@dataclass(frozen=True)
class OAuthResponse:
    """An answer as Authlib writes it: status, body (a dict is JSON), headers."""

    status: int
    body: Any
    headers: list[tuple[str, str]]

    @property
    def location(self) -> str | None:
        return next((v for k, v in self.headers if k.lower() == "location"), None)


class _Payload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, items: Iterable[tuple[str, str]]) -> None:
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for key, value in items:
            self._datalist[key].append(value)
        self._data = {key: values[0] for key, values in self._datalist.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class OAuthRequest(OAuth2Request):  # type: ignore[misc]
    """A request as Authlib reads it: the query's and the form's parameters, the headers."""

    def __init__(
        self,
        method: str,
        uri: str,
        headers: Mapping[str, str],
        query: list[tuple[str, str]],
        form: list[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(method, uri, headers=headers)
        self._query, self._form = query, form or []
        self.payload = _Payload([*self._query, *self._form])

    @property
    def args(self) -> dict[str, str]:
        return dict(self._query)

    @property
    def form(self) -> dict[str, str]:
        return dict(self._form)


@dataclass(frozen=True)
class PendingCode:
    """A code Authlib handed out, for the controller to store before the redirect leaves."""

    code: str
    client_id: str
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str
    session: BrowserSession


@dataclass(frozen=True)
class IssuedUser:
    """The user an ID token describes."""

    id: str
    session_id: str
    """The browser session (the ID token's `sid`)."""
    opened: OpenedSession


@dataclass
class Prepared:
    """What a request's storage hooks will ask for, loaded before Authlib runs."""

    client: ClientRecord | None = None
    code: CodeRecord | None = None
    nonce_used: bool = False
    refresh_grant: tuple[str, str] | None = None
    """The client and scope of the presented refresh token."""
    tokens: TokenPair | None = None
    """What the controller issued, between Authlib's check and its answer."""
    scope: str = ""
    user: IssuedUser | None = None
    pending_code: PendingCode | None = None


class _Client(ClientMixin):  # type: ignore[misc]
    def __init__(self, record: ClientRecord) -> None:
        self.record = record
        self.client_id = record.id
        self.client_metadata = {"post_logout_redirect_uris": list(record.post_logout_redirect_uris)}

    def get_client_id(self) -> str:
        return self.record.id

    def get_default_redirect_uri(self) -> None:
        return None  # OpenID Connect: the request always names it

    def get_allowed_scope(self, scope: str | None) -> str:
        return " ".join(s for s in (scope or "").split() if s in SCOPES)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.record.redirect_uris  # exact, character for character

    def check_client_secret(self, client_secret: str) -> bool:
        return secret_matches(self.record, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.record.public:
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", "refresh_token")


class _Code(AuthorizationCodeMixin):  # type: ignore[misc]
    def __init__(self, record: CodeRecord) -> None:
        self.record = record
        self.code_challenge = record.code_challenge
        self.code_challenge_method = "S256"

    def get_redirect_uri(self) -> str:
        return self.record.redirect_uri

    def get_scope(self) -> str:
        return self.record.scope

    def get_nonce(self) -> str | None:
        return self.record.nonce

    def get_auth_time(self) -> int:
        return int(self.record.auth_time.timestamp())


class _CodeGrant(AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS
    server: Provider

    def validate_authorization_request(self) -> str:
        redirect_uri: str = super().validate_authorization_request()
        if not self.request.payload.state:
            raise InvalidRequestError(
                "'state' is required: it is the client's defence against forged callbacks",
                redirect_uri=redirect_uri,
            )
        return redirect_uri

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        data = request.payload.data
        self.server.prepared.pending_code = PendingCode(
            code=code,
            client_id=request.client.get_client_id(),
            redirect_uri=data["redirect_uri"],
            scope=request.scope,
            nonce=data.get("nonce"),
            code_challenge=data["code_challenge"],
            session=request.user,
        )

    def query_authorization_code(self, code: str, client: _Client) -> _Code | None:
        stored = self.server.prepared.code
        # A code of another client is unknown to this one: refused, and nothing revoked.
        if stored is None or stored.client_id != client.get_client_id():
            return None
        if stored.expires_at <= self.server.core.clock.now():
            return None
        return _Code(stored)

    def delete_authorization_code(self, authorization_code: _Code) -> None:
        """Spent by the controller's exchange, before the answer."""

    def authenticate_user(self, authorization_code: _Code) -> IssuedUser | None:
        return self.server.prepared.user


class _S256Only(CodeChallenge):  # type: ignore[misc]
    """PKCE required of every client, confidential ones too, and S256 only: `plain` (and a
    challenge without a method, which RFC 7636 reads as plain) is refused."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: _CodeGrant, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("'code_challenge' is required (PKCE, S256)")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("'code_challenge_method' must be S256")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant: _CodeGrant, result: Any) -> None:
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("Missing 'code_verifier'")
        super().validate_code_verifier(grant, result)


class _IdTokens(OpenIDCode):  # type: ignore[misc]
    """ID tokens: RS256, `iss`, `aud` (the client), `iat`, `exp`, `auth_time`, `nonce`, `sid`
    (the browser session), `at_hash`, and the claims of the granted scopes."""

    def __init__(self, provider: Provider) -> None:
        super().__init__(require_nonce=False)
        self.provider = provider

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        return self.provider.prepared.nonce_used

    def resolve_client_private_key(self, client: _Client) -> RSAKey:
        return self.provider.id_token_key

    def get_client_algorithm(self, client: _Client) -> str:
        return "RS256"

    def get_encode_header(self, client: _Client) -> dict[str, str]:
        return {"alg": "RS256", "typ": "JWT", "kid": self.provider.id_token_signing_key.kid}

    def get_client_claims(self, client: _Client) -> dict[str, Any]:
        now = int(self.provider.core.clock.now().timestamp())
        return {
            "iss": self.provider.core.settings.issuer,
            "aud": [client.get_client_id()],
            "iat": now,
            "exp": now + self.provider.core.settings.access_token_seconds,
        }

    def get_authorization_code_claims(self, authorization_code: _Code) -> dict[str, Any]:
        claims: dict[str, Any] = super().get_authorization_code_claims(authorization_code)
        claims["sid"] = str(authorization_code.record.browser_session_id)
        return claims

    def generate_user_info(self, user: IssuedUser, scope: str) -> UserInfo:
        return user_claims(user.id, user.opened, scope)


class _RefreshGrant(RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True
    server: Provider

    def authenticate_refresh_token(self, refresh_token: str) -> _RefreshToken | None:
        grant = self.server.prepared.refresh_grant
        return _RefreshToken(*grant) if grant is not None else None

    def authenticate_user(self, refresh_token: _RefreshToken) -> bool:
        return True  # the controller's rotation checked the user, and refused an inactive one

    def revoke_old_credential(self, refresh_token: _RefreshToken) -> None:
        """Rotated by the controller, with core's reuse detection."""


@dataclass(frozen=True)
class _RefreshToken:
    client_id: str
    scope: str

    def check_client(self, client: _Client) -> bool:
        return client.get_client_id() == self.client_id

    def get_scope(self) -> str:
        return self.scope


class _Logout(EndSessionEndpoint):  # type: ignore[misc]
    server: Provider

    def get_server_jwks(self) -> KeySet:
        return self.server.id_token_public_keys

    def get_algorithms(self) -> list[str]:
        return ["RS256"]

    def resolve_client_from_id_token_claims(self, id_token_claims: dict[str, Any]) -> Any:
        # Core's ID tokens name their one client in a list (`["website"]`).
        audience = id_token_claims.get("aud")
        if isinstance(audience, list) and len(audience) == 1:
            audience = audience[0]
        return self.server.query_client(audience) if isinstance(audience, str) else None

    def is_post_logout_redirect_uri_legitimate(
        self, request: OAuth2Request, post_logout_redirect_uri: str, client: Any, hint: Any
    ) -> bool:
        # Without an ID token, only after the user confirmed on core's page (a POST the
        # controller accepts only with its CSRF token).
        return bool(request.method == "POST")

    def end_session(self, end_session_request: Any) -> None:
        """Ended by the controller, which knows the browser's session."""


class Provider(AuthorizationServer):  # type: ignore[misc]
    """Authlib's server for one request of core's, with what the request prepared."""

    def __init__(self, core: Core, prepared: Prepared) -> None:
        super().__init__(scopes_supported=list(SCOPES))
        self.core = core
        self.prepared = prepared
        self.register_grant(_CodeGrant, [_S256Only(required=True), _IdTokens(self)])
        self.register_grant(_RefreshGrant)
        self.register_token_generator("default", self._issued_tokens)
        self.register_endpoint(_Logout)

    def query_client(self, client_id: str) -> _Client | None:
        record = self.prepared.client
        return _Client(record) if record is not None and record.id == client_id else None

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        """Stored by the controller before Authlib writes the answer."""

    def _issued_tokens(self, **_: Any) -> dict[str, Any]:
        tokens = self.prepared.tokens
        assert tokens is not None, "the controller issues the tokens before the answer"
        return {
            "access_token": tokens.access_token,
            "token_type": "Bearer",
            "expires_in": tokens.expires_in,
            "refresh_token": tokens.refresh_token,
            "scope": self.prepared.scope,
        }

    def create_oauth2_request(self, request: OAuthRequest) -> OAuthRequest:
        return request

    def handle_response(
        self, status: int, body: Any, headers: list[tuple[str, str]]
    ) -> OAuthResponse:
        return OAuthResponse(status, body, list(headers))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """No signals: core audits in its services."""

    @cached_property
    def id_token_signing_key(self) -> RsaSigningKey:
        """The key this request signs its ID token with, chosen once: its header names it."""
        return self.core.id_token_keys.signing(self.core.clock.now())

    @property
    def id_token_key(self) -> RSAKey:
        return _rsa_key(self.id_token_signing_key)

    @cached_property
    def id_token_public_keys(self) -> KeySet:
        now = self.core.clock.now()
        published = self.core.id_token_keys.jwks(now, self.core.settings.access_token_seconds)
        return KeySet.import_key_set(published)  # type: ignore[arg-type]  # a JWKS document


@functools.lru_cache(maxsize=4)
def _rsa_key(key: RsaSigningKey) -> RSAKey:
    # Imported once per key: parsing the PEM costs more than signing with it.
    imported: RSAKey = RSAKey.import_key(key.to_pem(), {"kid": key.kid, "alg": "RS256"})
    return imported


def user_claims(user_id: str, user: OpenedSession, scope: str) -> UserInfo:
    """The standard claims of `user` that `scope` grants (`sub` always), as the ID token and
    `/oauth/userinfo` give them."""
    claims = UserInfo(
        sub=user_id, name=user.name, email=user.email, email_verified=user.email_verified
    )
    return claims.filter(scope)
