"""`/auth/login`, `/auth/callback`, `/auth/logout`: an app's end of the authorization code flow
(see the package's docstring)."""

from __future__ import annotations

import logging
import secrets
import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.params import FromQuery, QueryParameter
from litestar.response import Redirect

from atriz_core.client.litestar import PUBLIC, VERIFIER_STATE_KEY
from atriz_core.client.verifier import InvalidTokenError, TokenVerifier
from atriz_core.kit.browser_sign_in.provider import BrowserClient, SignInFailedError, provider_of
from atriz_core.kit.browser_sign_in.sessions import accepted, stored_hash
from atriz_core.kit.browser_sign_in.tables import ATTEMPT_SECONDS, IDLE_SECONDS
from atriz_core.kit.database import DbConnection
from atriz_core.kit.html import escape, html_page, paragraphs
from atriz_core.tokens.opaque import same_token

logger = logging.getLogger(__name__)


def _safe_next(path: str | None) -> str:
    """A path on this app, or `/`: never another origin (`//evil`, `/\\evil`, `https:`)."""
    if not path or not path.startswith("/") or path.startswith(("//", "/\\")):
        return "/"
    if any(ord(character) < 0x20 for character in path):
        return "/"
    return path


def _user_id(claims: dict[str, Any]) -> uuid.UUID:
    """The user an ID token names; `InvalidTokenError` if its subject is not a user id."""
    try:
        return uuid.UUID(str(claims["sub"]))
    except ValueError:
        raise InvalidTokenError("the ID token's subject is not a user id") from None


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
            stored_hash(state),
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
            stored_hash(state),
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
            tokens, principal = await accepted(verifier, provider, tokens, _user_id(claims))
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
            stored_hash(session_id),
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
                "DELETE FROM web_sessions WHERE id_hash = $1 RETURNING id_token",
                stored_hash(session_id),
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
