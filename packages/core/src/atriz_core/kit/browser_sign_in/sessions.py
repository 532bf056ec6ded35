"""The user signed in to an app in this browser: the session behind the cookie, its access
token refreshed when about to expire or revoked, and checked on every request."""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
import uuid
from contextlib import suppress
from typing import Any
from urllib.parse import urlencode, urlsplit

import asyncpg
from litestar import Request, Response
from litestar.response import Redirect

from atriz_core.client.litestar import VERIFIER_STATE_KEY
from atriz_core.client.verifier import (
    InvalidTokenError,
    Principal,
    RevokedTokenError,
    TokenVerifier,
)
from atriz_core.kit.browser_sign_in.provider import (
    OidcProvider,
    SignInFailedError,
    Tokens,
    provider_of,
)
from atriz_core.kit.browser_sign_in.tables import IDLE_SECONDS
from atriz_core.kit.html import escape, html_page

REFRESH_MARGIN_SECONDS = 30


def stored_hash(secret: str) -> bytes:
    """What the tables keep of a secret (a session id, a sign-in's state): its SHA-256."""
    return hashlib.sha256(secret.encode()).digest()


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
    id_hash = stored_hash(session_id)
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


async def accepted(
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
