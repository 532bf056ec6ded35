"""The OpenID Connect provider's routes: HTTP only; Authlib checks the protocol (`server.py`),
core's services act.

| route | what |
|---|---|
| `GET /.well-known/openid-configuration` | discovery |
| `GET /oauth/authorize`, `POST` (the consent form) | authorization endpoint |
| `POST /oauth/token` | code and refresh-token grants |
| `GET`, `POST /oauth/userinfo` | the user's claims, for an access token with `openid` |
| `GET`, `POST /oauth/logout` | RP-initiated logout (the end-session endpoint) |
| `GET`, `POST /oauth/sign-in` | core's sign-in page (`sign_in.py`) |

Browser-facing routes answer with pages (`pages.py`), never JSON, and never redirect to a URI
that the client has not registered exactly: an unknown client or redirect URI gets an error
page (cookies and CSRF tokens: `web.py`).
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

import jwt
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidClientError, InvalidGrantError, InvalidRequestError
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from authlib.oidc.core.errors import ConsentRequiredError, LoginRequiredError
from litestar import Controller, Response, get, post, route
from litestar.connection import ASGIConnection
from litestar.exceptions import HTTPException, NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler
from litestar.status_codes import HTTP_200_OK, HTTP_303_SEE_OTHER

from atriz_core.client.litestar import authenticate
from atriz_core.clients import repository as clients
from atriz_core.errors import (
    AuthenticationError,
    DomainError,
)
from atriz_core.oidc import pages, services
from atriz_core.oidc.freshness import SignInAge, resumed_after_sign_in
from atriz_core.oidc.repository import (
    MAX_NONCE_LENGTH,
    CookieSession,
    OpenedSession,
)
from atriz_core.oidc.server import (
    SCOPES,
    IssuedUser,
    OAuthRequest,
    OAuthResponse,
    Prepared,
    Provider,
    user_claims,
)
from atriz_core.oidc.web import (
    answer,
    client_of,
    csrf_cookie,
    csrf_tokens,
    csrf_valid,
    multi_items,
    origin,
    page_errors,
    refused,
    session_cookie,
    session_cookie_name,
    unquotable,
    uri_of,
)
from atriz_core.request import CoreRequest
from atriz_core.sessions.services import refresh_session
from atriz_core.standing import requires_open_session
from atriz_core.users import repository as users

USERINFO_VERIFIER_STATE_KEY = "userinfo_verifier"
"""The verifier of `/oauth/userinfo`'s tokens in `app.state` (`atriz_core.app`)."""

__all__ = [
    "USERINFO_VERIFIER_STATE_KEY",
    "DiscoveryController",
    "OidcController",
    "TokenController",
]


async def _requires_userinfo_token(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """Guard: a valid access token, for the apps or (a third-party client's) for the issuer."""
    await authenticate(connection, connection.app.state[USERINFO_VERIFIER_STATE_KEY])


class DiscoveryController(Controller):
    path = "/.well-known/openid-configuration"
    tags = ["openid"]

    @get("/", cache_control=None)
    async def configuration(self, request: CoreRequest) -> dict[str, Any]:
        """OpenID Connect discovery: where core's endpoints and keys are, and what it supports."""
        settings = request.core.settings
        base = settings.public_url
        return {
            "issuer": settings.issuer,
            "authorization_endpoint": f"{base}/oauth/authorize",
            "token_endpoint": f"{base}/oauth/token",
            "userinfo_endpoint": f"{base}/oauth/userinfo",
            "jwks_uri": f"{base}/.well-known/jwks.json",
            "end_session_endpoint": f"{base}/oauth/logout",
            "scopes_supported": list(SCOPES),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
                "none",
            ],
            "code_challenge_methods_supported": ["S256"],
            "prompt_values_supported": ["none", "login", "consent"],
            "claims_supported": [
                "sub",
                "iss",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "nonce",
                "sid",
                "at_hash",
                "name",
                "email",
                "email_verified",
            ],
            "claims_parameter_supported": False,
            "request_parameter_supported": False,
            "request_uri_parameter_supported": False,
        }


class TokenController(Controller):
    """The token and userinfo endpoints: clients call them from their servers, and get JSON."""

    path = "/oauth"
    include_in_schema = False  # OAuth's form-encoded protocol, described by discovery

    @post("/token")
    async def token(self, request: CoreRequest) -> Response[Any]:
        """Exchange a code (with its PKCE verifier) or a refresh token for tokens."""
        form = multi_items(await request.form())
        if (unreadable := unquotable(form)) is not None:
            return answer(OAuthResponse(*unreadable()))
        fields = dict(form)
        core, pool = request.core, request.pool
        try:
            basic_id, _ = extract_basic_authorization(request.headers)
        except ValueError:  # not UTF-8, or nothing but Unicode spaces: no client is named
            unnamed = InvalidClientError("the client credentials cannot be read", status_code=401)
            return answer(OAuthResponse(*unnamed()))
        prepared = Prepared(client=await client_of(request, basic_id or fields.get("client_id")))
        grant_type, code = fields.get("grant_type"), fields.get("code")
        if grant_type == "authorization_code" and code:
            prepared.code = await services.find_code(pool, code)
        refresh_token = fields.get("refresh_token")
        if grant_type == "refresh_token" and refresh_token:
            prepared.refresh_grant = await services.refresh_token_grant(pool, refresh_token)
        provider = Provider(core, prepared)
        oauth_request = OAuthRequest("POST", uri_of(request), request.headers, [], form)
        try:
            grant = provider.get_token_grant(oauth_request)
            grant.validate_token_request()
            if grant_type == "authorization_code":
                stored, client = prepared.code, prepared.client
                # Authlib refused the request otherwise.
                assert stored is not None
                assert client is not None
                try:
                    exchanged = await services.exchange_code(
                        pool,
                        core,
                        code=code or "",
                        stored=stored,
                        context=request.context,
                        third_party=not client.first_party,
                    )
                except services.CodeRefusedError as exc:
                    raise InvalidGrantError(str(exc)) from exc
                prepared.tokens, prepared.scope = exchanged.tokens, stored.scope
                prepared.user = IssuedUser(
                    str(stored.user_id), str(stored.browser_session_id), exchanged.user
                )
            else:
                client_id, scope = prepared.refresh_grant or ("", "")
                try:
                    async with pool.acquire() as connection:
                        prepared.tokens = await refresh_session(
                            connection,
                            core,
                            refresh_token=refresh_token or "",
                            context=request.context,
                            client_id=client_id,
                        )
                except AuthenticationError as exc:
                    raise InvalidGrantError(exc.detail) from exc
                prepared.scope = scope
            return answer(OAuthResponse(*grant.create_token_response()))
        except OAuth2Error as error:
            return answer(OAuthResponse(*error()))

    # 200 for both methods: OpenID Connect Core 5.3.2 (Litestar would answer a POST with 201).
    @route(
        "/userinfo",
        http_method=["GET", "POST"],
        guards=[_requires_userinfo_token, requires_open_session],
        status_code=HTTP_200_OK,
    )
    async def userinfo(self, request: CoreRequest) -> dict[str, Any]:
        """The signed-in user's claims that their access token's scope grants; and their roles,
        for a first-party client or core's own sign-in."""
        principal = request.user
        scope = principal.scope or ""
        if "openid" not in scope.split():
            raise NotAuthorizedException(
                detail="the access token was not issued with the openid scope",
                headers={"WWW-Authenticate": 'Bearer error="insufficient_scope", scope="openid"'},
            )
        user = await users.get_user(request.pool, principal.id)
        if user is None or not user.can_sign_in:
            raise NotAuthorizedException(
                detail="the account is no longer active",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        roles = await users.role_names(request.pool, user.id)
        opened = OpenedSession(user.email, user.name, user.email_verified_at is not None, roles)
        claims: dict[str, Any] = dict(user_claims(str(user.id), opened, scope))
        if principal.client_id is not None:
            client = await clients.get_client(request.pool, principal.client_id)
            if client is None or not client.first_party:
                return claims  # what the user's roles are is none of a third party's business
        return {**claims, "roles": roles}


class OidcController(Controller):
    """Authorization and logout, where browsers go."""

    path = "/oauth"
    include_in_schema = False
    exception_handlers = {
        DomainError: page_errors,
        HTTPException: page_errors,
        Exception: page_errors,
    }

    @get("/authorize")
    async def authorize(self, request: CoreRequest) -> Response[Any]:
        """Start a sign-in for a client: on to core's sign-in page unless the browser is
        signed in, then (for a third-party client) the consent page, then back to the client
        with a code."""
        return await self._authorization(request, [])

    @post("/authorize")
    async def answer_consent(self, request: CoreRequest) -> Response[Any]:
        """The consent page's answer."""
        form = multi_items(await request.form())
        return await self._authorization(request, form)

    async def _authorization(
        self, request: CoreRequest, form: list[tuple[str, str]]
    ) -> Response[Any]:
        core, pool = request.core, request.pool
        query = multi_items(request.query_params)
        own = {"csrf_token", "decision"}
        params = [(k, v) for k, v in [*query, *form] if k not in own]
        if (unreadable := unquotable(params)) is not None:
            return refused(unreadable)
        fields = dict(params)
        prepared = Prepared(client=await client_of(request, fields.get("client_id")))
        session = await services.browser_session(
            pool, core, request.cookies.get(session_cookie_name(request))
        )
        nonce = fields.get("nonce")
        # A nonce too long to keep is refused below, without asking whether it was used.
        if prepared.client is not None and nonce and len(nonce) <= MAX_NONCE_LENGTH:
            prepared.nonce_used = await services.nonce_used(pool, prepared.client.id, nonce)
        provider = Provider(core, prepared)
        oauth_request = OAuthRequest(request.method, uri_of(request), request.headers, query, form)
        try:
            grant = provider.get_consent_grant(oauth_request, end_user=session)
        except OAuth2Error as error:
            return refused(error)
        client = prepared.client
        assert client is not None  # Authlib refused the request otherwise
        redirect_uri, state = fields["redirect_uri"], fields.get("state")
        prompts = set(fields.get("prompt", "").split())
        if len(nonce or "") > MAX_NONCE_LENGTH:
            return refused(
                InvalidRequestError(
                    f"nonce is longer than {MAX_NONCE_LENGTH} characters",
                    redirect_uri=redirect_uri,
                    state=state,
                )
            )
        try:
            age = SignInAge(fields, prompts, core.clock.now())
        except ValueError as exc:
            return refused(InvalidRequestError(str(exc), redirect_uri=redirect_uri, state=state))
        if session is None or not age.met_by(session):
            if "none" in prompts:  # a sign-in is needed, and the client asked for no page
                return refused(LoginRequiredError(redirect_uri=redirect_uri, state=state))
            again = urlencode(resumed_after_sign_in(params, age.now))
            target = urlencode(
                {"return_to": f"/oauth/authorize?{again}", **({"reauth": "1"} if session else {})}
            )
            return Response(
                b"",
                status_code=HTTP_303_SEE_OTHER,
                headers={"Location": f"/oauth/sign-in?{target}"},
            )
        targets = [origin(redirect_uri)]
        if request.method == "POST" and not csrf_valid(request, dict(form).get("csrf_token")):
            return pages.error_page(
                "This form has expired", "Go back to the app and sign in again.", status=403
            )
        allow = True
        if not client.first_party or "consent" in prompts:
            if "none" in prompts:  # consent is asked on a page, and the client asked for none
                return refused(ConsentRequiredError(redirect_uri=redirect_uri, state=state))
            if request.method == "GET":
                csrf_value, cookies = csrf_cookie(request)
                token = csrf_tokens(request).form_token(csrf_value)
                response = pages.consent_page(
                    client_name=client.name,
                    user_email=session.email,
                    scopes=(oauth_request.scope or "").split(),
                    fields=[*params, ("csrf_token", token)],
                    form_targets=targets,
                )
                response.cookies.extend(cookies)
                return response
            allow = dict(form).get("decision") == "allow"
        authorized = provider.create_authorization_response(
            oauth_request, grant_user=session if allow else None, grant=grant
        )
        pending = prepared.pending_code
        if pending is not None:
            try:
                await services.store_code(
                    pool,
                    core,
                    code=pending.code,
                    client_id=pending.client_id,
                    session=pending.session,
                    redirect_uri=pending.redirect_uri,
                    scope=pending.scope,
                    nonce=pending.nonce,
                    code_challenge=pending.code_challenge,
                )
            except services.NonceReplayedError:
                return refused(
                    InvalidRequestError(
                        "Replay attack",
                        redirect_uri=pending.redirect_uri,
                        state=fields.get("state"),
                    )
                )
        return answer(authorized)

    @route("/logout", http_method=["GET", "POST"])
    async def logout(self, request: CoreRequest) -> Response[Any]:
        """Sign out at core (RP-initiated logout): the browser session and every app's session
        it opened end. Back to the client's `post_logout_redirect_uri` only if the client
        registered it exactly, and only for a request with the client's ID token or that the
        user confirmed on core's page. Core asks first unless the request carries an ID token
        of this browser's own sign-in; without the browser's cookie, a third-party client's ID
        token ends that client's sessions only."""
        core, pool = request.core, request.pool
        query = multi_items(request.query_params)
        form = multi_items(await request.form()) if request.method == "POST" else []
        fields = {k: v for k, v in [*query, *form] if k != "csrf_token"}
        if (unreadable := unquotable([*query, *form])) is not None:
            return pages.error_page(
                "This sign-out request is not valid",
                f"{unreadable.description}. You are still signed in.",
            )
        hint = fields.get("id_token_hint")
        prepared = Prepared(
            client=await client_of(request, fields.get("client_id") or _audience(hint))
        )
        provider = Provider(core, prepared)
        confirmed = request.method == "POST" and csrf_valid(request, dict(form).get("csrf_token"))
        method = "POST" if confirmed else "GET"
        oauth_request = OAuthRequest(method, uri_of(request), request.headers, query, form)
        try:
            ending = provider.validate_endpoint_request("end_session", oauth_request)
        except OAuth2Error as error:
            return pages.error_page(
                "This sign-out request is not valid",
                f"{error.description or error.error}. You are still signed in.",
            )
        # This browser's sign-in, also through a cookie a later sign-in replaced (whose answer
        # the browser may never have had).
        session = await services.cookie_session(
            pool, core, request.cookies.get(session_cookie_name(request))
        )
        hinted = _hinted_session(ending.id_token_claims)
        # A hint vouches only for the sign-in it names: a link carrying someone else's ID token
        # (or one of an earlier sign-in) must not sign this browser out unasked.
        foreign_hint = session is not None and hinted is not None and hinted != session.id
        if (ending.needs_confirmation or foreign_hint) and not confirmed:
            csrf_value, cookies = csrf_cookie(request)
            uri = fields.get("post_logout_redirect_uri")
            registered = (
                ending.client and uri in ending.client.client_metadata["post_logout_redirect_uris"]
            )
            response = pages.sign_out_page(
                client_name=prepared.client.name if prepared.client else None,
                fields=[
                    *fields.items(),
                    ("csrf_token", csrf_tokens(request).form_token(csrf_value)),
                ],
                form_targets=[origin(uri)] if registered and uri else [],
            )
            response.cookies.extend(cookies)
            return response
        client = prepared.client
        if session is None and hinted is not None and not (client and client.first_party):
            # Without this browser's cookie, a third-party client's ID token ends that client's
            # sessions only: whoever holds it (the client itself, from its server) must not
            # sign the user out of core and of every other app; a removed client's, nothing.
            if client is not None:
                await services.end_client_sessions(pool, core, hinted, client.id, request.context)
        else:
            for ended in _sessions_to_end(session, hinted, ending.id_token_claims):
                await services.end_browser_session(pool, core, ended, request.context)
        gone = session_cookie(request, "", 0)
        if ending.redirect_uri:
            return Response(
                b"",
                status_code=HTTP_303_SEE_OTHER,
                headers={"Location": ending.redirect_uri},
                cookies=[gone],
            )
        response = pages.signed_out_page()
        response.cookies.append(gone)
        return response


def _audience(id_token: str | None) -> str | None:
    """The client an ID token names, read without checking it: only to know which client to
    load before Authlib checks the token."""
    if not id_token or len(id_token) > 8000:
        return None
    try:
        audience = jwt.decode(id_token, options={"verify_signature": False}).get("aud")
    except jwt.PyJWTError:
        return None
    if isinstance(audience, list) and len(audience) == 1:
        audience = audience[0]
    return audience if isinstance(audience, str) else None


def _sessions_to_end(
    session: CookieSession | None, hinted: uuid.UUID | None, claims: dict[str, Any] | None
) -> list[uuid.UUID]:
    """The browser's own sign-in, and the hinted one too when it is an earlier sign-in of the
    same user (an app still holding the ID token of a sign-in since replaced in this browser);
    without the browser's, the hinted one."""
    if session is None:
        return [hinted] if hinted is not None else []
    earlier = hinted not in (None, session.id) and (claims or {}).get("sub") == str(session.user_id)
    return [session.id, hinted] if earlier and hinted is not None else [session.id]


def _hinted_session(claims: dict[str, Any] | None) -> uuid.UUID | None:
    """The browser session an ID token names (`sid`), for a sign-out without core's cookie."""
    try:
        return uuid.UUID(str((claims or {}).get("sid")))
    except ValueError:
        return None
