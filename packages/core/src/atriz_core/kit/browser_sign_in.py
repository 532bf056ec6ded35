"""Browser sign-in for an app, through core's OpenID Connect provider (backend-for-frontend).

The browser never holds a token. `/auth/login` starts the authorization code flow with PKCE
(S256), a `state` and a `nonce`; `/auth/callback` exchanges the code server-side, as a
confidential client, verifies the ID token (core's RS256 key, issuer, audience, nonce) and the
access token (the app's own verifier: audience, revocation), and keeps the tokens in the app's
database (`web_sessions`), handing the browser only a random session id in an `HttpOnly`,
`SameSite=Lax` cookie (`Secure` when the app's public URL is https). `signed_in_user(...)`
gives a page the user behind that cookie, refreshing the access token when it is about to
expire (the session row locked, so two tabs refresh once) and checking it with the app's
verifier on every request, so a user signed out at core, deactivated or deleted (core's user
events, followed by every worker) is signed out of every app within seconds. `/auth/logout`
ends the app's session, then core's (RP-initiated logout), which ends every app's.

Why each piece:
- The `state` travels twice: in the authorization URL and in a cookie scoped to
  `/auth/callback`. A callback whose two copies differ (a login started in another browser, a
  forged link: login CSRF) is refused. The attempt's PKCE verifier and nonce wait in the
  database under the state's hash, spent by the callback that finds them (single use).
- Cookies are host-wide, not per port: each app's cookies carry its name
  (`atriz_website_session`), so apps on one host never overwrite each other's.
- `next` is a path on this app only (`/...`, never `//host`): no open redirect.

An app's migration creates the tables with `SIGN_IN_TABLES_SQL`; `app_service` mounts the
routes and `signed_in_user` serves the app's pages.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import math
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

import asyncpg
import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact
from litestar import Controller, Litestar, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.exceptions import ServiceUnavailableException
from litestar.params import FromQuery, QueryParameter
from litestar.response import Redirect

from atriz_core.client.litestar import PUBLIC, VERIFIER_STATE_KEY
from atriz_core.client.verifier import (
    InvalidTokenError,
    Principal,
    RevokedTokenError,
    TokenVerifier,
)
from atriz_core.kit.database import DbConnection
from atriz_core.kit.html import escape, html_page, paragraphs
from atriz_core.tokens.opaque import same_token

__all__ = [
    "SIGN_IN_STATE_KEY",
    "SIGN_IN_TABLES_ROLLBACK_SQL",
    "SIGN_IN_TABLES_SQL",
    "BrowserClient",
    "BrowserSignInController",
    "OidcProvider",
    "app_page",
    "browser_sign_in",
    "sign_in_redirect",
    "signed_in_user",
]

logger = logging.getLogger(__name__)

SIGN_IN_STATE_KEY = "browser_sign_in"
"""`app.state[...]`: the app's `OidcProvider`."""

SIGN_IN_TABLES_SQL = """\
-- Browser sign-in (atriz_core.kit.browser_sign_in): an attempt waits here between /auth/login
-- and /auth/callback (at most 10 minutes, spent by the callback), then the session holds the
-- user's tokens server-side; the browser has only the session id, stored here as its hash.
CREATE TABLE web_sign_in_attempts (
    state_hash bytea PRIMARY KEY,
    nonce text NOT NULL,
    code_verifier text NOT NULL,
    next_path text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX web_sign_in_attempts_created_at_idx ON web_sign_in_attempts (created_at);

CREATE TABLE web_sessions (
    id_hash bytea PRIMARY KEY,
    user_id uuid NOT NULL,
    access_token text NOT NULL,
    refresh_token text,
    id_token text NOT NULL,
    access_expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX web_sessions_last_seen_at_idx ON web_sessions (last_seen_at);
"""
"""The tables: copy them into one of the app's migrations (yoyo reads plain SQL files)."""
SIGN_IN_TABLES_ROLLBACK_SQL = "DROP TABLE web_sessions;\nDROP TABLE web_sign_in_attempts;\n"
"""The matching rollback."""

ATTEMPT_SECONDS = 600
IDLE_SECONDS = 12 * 3600
"""A session unused this long is purged (its refresh token will have lapsed at core)."""
REFRESH_MARGIN_SECONDS = 30
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


def _hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def _safe_next(path: str | None) -> str:
    """A path on this app, or `/`: never another origin (`//evil`, `/\\evil`, `https:`)."""
    if not path or not path.startswith("/") or path.startswith(("//", "/\\")):
        return "/"
    if any(ord(character) < 0x20 for character in path):
        return "/"
    return path


def provider_of(request: Request[Any, Any, Any]) -> OidcProvider:
    provider: OidcProvider = request.app.state[SIGN_IN_STATE_KEY]
    return provider


def sign_in_redirect(request: Request[Any, Any, Any]) -> Redirect:
    """Send the browser to sign in, coming back to the page it asked for."""
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return Redirect(f"/auth/login?{urlencode({'next': path})}", status_code=303)


_SESSION = """
SELECT access_token, user_id, access_expires_at < now() + $2 * interval '1 second' AS expiring
FROM web_sessions WHERE id_hash = $1 AND last_seen_at > now() - $3 * interval '1 second'
"""
_LOCK_SESSION = """
SELECT access_token, refresh_token, access_expires_at < now() + $2 * interval '1 second' AS expiring
FROM web_sessions WHERE id_hash = $1 FOR UPDATE
"""
_STORE_REFRESHED = """
UPDATE web_sessions SET access_token = $2, refresh_token = COALESCE($3, refresh_token),
    id_token = COALESCE($4, id_token), access_expires_at = now() + $5 * interval '1 second',
    last_seen_at = now()
WHERE id_hash = $1
"""


async def signed_in_user(
    request: Request[Any, Any, Any], conn: asyncpg.Connection
) -> Principal | None:
    """The user signed in to this app in this browser, or None (no session, or one that core
    ended: signed out, deactivated, deleted; its row is then deleted)."""
    session_id = request.cookies.get(provider_of(request).client.session_cookie)
    if not session_id:
        return None
    id_hash = _hash(session_id)
    row = await conn.fetchrow(_SESSION, id_hash, REFRESH_MARGIN_SECONDS, IDLE_SECONDS)
    if row is None:
        return None
    access_token = row["access_token"]
    if row["expiring"]:
        access_token = await _refresh(request, conn, id_hash)
    verifier: TokenVerifier = request.app.state[VERIFIER_STATE_KEY]
    try:
        if access_token is not None:
            return await verifier.verify(access_token)
    except RevokedTokenError:
        # Core revokes a user's access tokens as a whole (a sign-out, a role change): this
        # session's refresh token still works if core did not end this very session, and a
        # token refreshed past the revocation is good again.
        refreshed = await _refreshed_past_revocation(
            request, conn, id_hash, access_token, row["user_id"]
        )
        if refreshed is not None:
            return refreshed
    except InvalidTokenError:
        pass
    await conn.execute("DELETE FROM web_sessions WHERE id_hash = $1", id_hash)
    return None


async def _refreshed_past_revocation(
    request: Request[Any, Any, Any],
    conn: asyncpg.Connection,
    id_hash: bytes,
    revoked: str,
    user_id: uuid.UUID,
) -> Principal | None:
    """The session's user with a token refreshed past their revocation; None if core refused.
    Refreshed in the revocation's very second, it is refreshed once more after that second
    (`_waited_out_revocation`), rather than signing this browser out."""
    verifier: TokenVerifier = request.app.state[VERIFIER_STATE_KEY]
    token = await _refresh(request, conn, id_hash, revoked=revoked)
    if token is None:
        return None
    try:
        return await verifier.verify(token)
    except RevokedTokenError:
        if not await _waited_out_revocation(verifier, user_id):
            return None
    except InvalidTokenError:
        return None
    again = await _refresh(request, conn, id_hash, revoked=token)
    with suppress(InvalidTokenError):
        if again is not None:
            return await verifier.verify(again)
    return None


async def _accepted(
    verifier: TokenVerifier, provider: OidcProvider, tokens: Tokens, user_id: uuid.UUID
) -> tuple[Tokens, Principal]:
    """A sign-in's tokens and the principal of their access token; refreshed once the second
    of a revocation of the user is over when it was refused with it (`_waited_out_revocation`:
    signed out everywhere a moment ago)."""
    try:
        return tokens, await verifier.verify(tokens.access_token)
    except RevokedTokenError:
        if not tokens.refresh_token or not await _waited_out_revocation(verifier, user_id):
            raise
    fresh = await provider.refresh(tokens.refresh_token)
    kept = Tokens(
        access_token=fresh.access_token,
        expires_in=fresh.expires_in,
        refresh_token=fresh.refresh_token or tokens.refresh_token,
        id_token=fresh.id_token or tokens.id_token,
    )
    return kept, await verifier.verify(kept.access_token)


def _user_id(claims: dict[str, Any]) -> uuid.UUID:
    """The user an ID token names; `InvalidTokenError` if its subject is not a user id."""
    try:
        return uuid.UUID(str(claims["sub"]))
    except ValueError:
        raise InvalidTokenError("the ID token's subject is not a user id") from None


async def _waited_out_revocation(verifier: TokenVerifier, user_id: uuid.UUID) -> bool:
    """Wait until the second of the user's revocation is over (at most one); False, at once,
    when waiting cannot help: no revocation known, a deleted user, or clocks too far apart.

    A token issued in that very second is refused with the revocation (`iat` has whole seconds,
    see `atriz_core.client.revocations`): the user signed out in another browser, or was given a
    role, a moment ago. One issued after it is good."""
    not_before = verifier.revocations.not_before(user_id) if verifier.revocations else None
    if not_before is None or math.isinf(not_before):
        return False
    wait = math.floor(not_before) + 1 - time.time()
    if wait > 1:
        return False
    await asyncio.sleep(max(wait, 0.0))
    return True


async def _refresh(
    request: Request[Any, Any, Any],
    conn: asyncpg.Connection,
    id_hash: bytes,
    *,
    revoked: str | None = None,
) -> str | None:
    """A fresh access token for the session (None: core refused to refresh it), when its own
    is about to expire or is `revoked`. The row stays locked meanwhile: a second tab waits,
    then finds the token the first one got instead of refreshing again."""
    async with conn.transaction():
        row = await conn.fetchrow(_LOCK_SESSION, id_hash, REFRESH_MARGIN_SECONDS)
        if row is None or not row["refresh_token"]:
            return None
        replaced = row["access_token"] != revoked if revoked else not row["expiring"]
        if replaced:
            return str(row["access_token"])
        try:
            tokens = await provider_of(request).refresh(row["refresh_token"])
        except SignInFailedError:
            return None
        await conn.execute(
            _STORE_REFRESHED,
            id_hash,
            tokens.access_token,
            tokens.refresh_token,
            tokens.id_token,
            tokens.expires_in,
        )
        return tokens.access_token


def app_page(
    request: Request[Any, Any, Any], user: Principal, title: str, content: str
) -> Response[str]:
    """A page of the app for a signed-in `user`: who is signed in, a sign-out button, then
    `content` (HTML whose every variable part the caller escaped). The sign-out form posts here
    and is then redirected to core, so the page's policy lets forms reach core's origin too."""
    issuer = urlsplit(provider_of(request).client.issuer)
    header = (
        f'<p class="hint">Signed in as {escape(user.email)}</p>\n'
        '<form method="post" action="/auth/logout"><button type="submit">Sign out</button>'
        "</form>\n"
    )
    return html_page(
        title, header + content, extra_form_actions=[f"{issuer.scheme}://{issuer.netloc}"]
    )


def _problem_page(title: str, *texts: str, status: int = 400) -> Response[str]:
    return html_page(
        title,
        paragraphs(*texts) + '\n<p><a href="/auth/login">Sign in again</a></p>',
        status=status,
    )


class BrowserSignInController(Controller):
    """`/auth/login`, `/auth/callback`, `/auth/logout`: see the module docstring."""

    path = "/auth"
    opt = PUBLIC
    include_in_schema = False

    @get("/login")
    async def start(
        self,
        request: Request[Any, Any, Any],
        conn: DbConnection,
        next_path: Annotated[str | None, QueryParameter(name="next")] = None,
    ) -> Response[Any]:
        provider = provider_of(request)
        state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        code_verifier = secrets.token_urlsafe(48)
        url = await provider.authorization_url(state, nonce, code_verifier)
        await conn.execute(
            "DELETE FROM web_sign_in_attempts WHERE created_at < now() - $1 * interval '1 second'",
            ATTEMPT_SECONDS,
        )
        await conn.execute(
            "INSERT INTO web_sign_in_attempts (state_hash, nonce, code_verifier, next_path)"
            " VALUES ($1, $2, $3, $4)",
            _hash(state),
            nonce,
            code_verifier,
            _safe_next(next_path),
        )
        client = provider.client
        return Redirect(
            url,
            status_code=303,
            cookies=[
                Cookie(
                    key=client.attempt_cookie,
                    value=state,
                    path="/",  # as `__Host-` requires
                    max_age=ATTEMPT_SECONDS,
                    httponly=True,
                    samesite="lax",
                    secure=client.secure_cookies,
                )
            ],
        )

    @get("/callback")
    async def finish(
        self,
        request: Request[Any, Any, Any],
        conn: DbConnection,
        code: FromQuery[str | None] = None,
        returned_state: Annotated[str | None, QueryParameter(name="state")] = None,
        error: FromQuery[str | None] = None,
    ) -> Response[Any]:
        provider = provider_of(request)
        client = provider.client
        expected = request.cookies.get(client.attempt_cookie)
        state = returned_state
        if not state or not expected or not same_token(state, expected):
            return _problem_page(
                "This sign-in cannot be finished",
                "It was started in another browser or tab that has since started another, or "
                "it expired. Nothing was signed in.",
            )
        attempt = await conn.fetchrow(
            "DELETE FROM web_sign_in_attempts WHERE state_hash = $1"
            " AND created_at > now() - $2 * interval '1 second'"
            " RETURNING nonce, code_verifier, next_path",
            _hash(state),
            ATTEMPT_SECONDS,
        )
        if attempt is None:
            return _problem_page(
                "This sign-in cannot be finished", "It expired or was already used."
            )
        if error or not code:
            return _problem_page(
                "Not signed in", f"Core answered: {escape(error or 'no code')}."[:200]
            )
        try:
            tokens = await provider.exchange_code(code, attempt["code_verifier"])
            if not tokens.id_token:
                raise SignInFailedError("no ID token")
            claims = await provider.id_token_claims(tokens.id_token, attempt["nonce"])
            verifier: TokenVerifier = request.app.state[VERIFIER_STATE_KEY]
            tokens, principal = await _accepted(verifier, provider, tokens, _user_id(claims))
        except (SignInFailedError, InvalidTokenError) as exc:
            logger.warning("browser sign-in refused: %s", exc)
            return _problem_page("Not signed in", "Core's answer could not be accepted.")
        if str(principal.id) != claims["sub"]:
            return _problem_page("Not signed in", "Core's answer could not be accepted.")
        session_id = secrets.token_urlsafe(32)
        await conn.execute(
            "DELETE FROM web_sessions WHERE last_seen_at < now() - $1 * interval '1 second'",
            IDLE_SECONDS,
        )
        await conn.execute(
            "INSERT INTO web_sessions (id_hash, user_id, access_token, refresh_token, id_token,"
            " access_expires_at) VALUES ($1, $2, $3, $4, $5, now() + $6 * interval '1 second')",
            _hash(session_id),
            principal.id,
            tokens.access_token,
            tokens.refresh_token,
            tokens.id_token,
            tokens.expires_in,
        )
        return Redirect(
            attempt["next_path"],
            status_code=303,
            cookies=[
                Cookie(
                    key=client.session_cookie,
                    value=session_id,
                    path="/",
                    httponly=True,
                    samesite="lax",
                    secure=client.secure_cookies,
                ),
                _gone(client.attempt_cookie, client),
            ],
        )

    @post("/logout", status_code=303)
    async def sign_out(self, request: Request[Any, Any, Any], conn: DbConnection) -> Response[Any]:
        """End this app's session, then core's (which ends every app's)."""
        provider = provider_of(request)
        client = provider.client
        if _cross_site(request, client.public_url):
            return _problem_page(
                "Not signed out", "The request came from another site.", status=403
            )
        id_token = None
        session_id = request.cookies.get(client.session_cookie)
        if session_id:
            id_token = await conn.fetchval(
                "DELETE FROM web_sessions WHERE id_hash = $1 RETURNING id_token", _hash(session_id)
            )
        return Redirect(
            await provider.end_session_url(id_token),
            status_code=303,
            cookies=[_gone(client.session_cookie, client)],
        )


def _gone(name: str, client: BrowserClient) -> Cookie:
    """The cookie `name` deleted (a `__Host-` one only with `Secure`, as it was set)."""
    return Cookie(key=name, value="", path="/", max_age=0, secure=client.secure_cookies)


def _cross_site(request: Request[Any, Any, Any], public_url: str) -> bool:
    """Whether a post came from another site. The browser's fetch metadata says so first: the
    app's pages send no referrer, and a browser then sends `Origin: null` even for the app's own
    forms. Without it, a named `Origin` must be the app's own."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site not in ("same-origin", "none")
    origin = request.headers.get("origin")
    return origin is not None and origin != public_url


def browser_sign_in(client: BrowserClient) -> Any:
    """The lifespan that puts the app's `OidcProvider` in `app.state` (with an HTTP client of
    its own, closed on shutdown)."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=10) as http:
            app.state[SIGN_IN_STATE_KEY] = OidcProvider(client, http)
            yield

    return lifespan
