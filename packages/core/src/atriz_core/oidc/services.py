"""Rules of the OpenID Connect provider: browser sessions, codes, their exchange, sign-out.

- A browser session is a session row whose token is the cookie (`accounts.services.sign_in`,
  the login of `/auth/login` with every limit and answer of it). Logout-all, a password change
  and a deactivation end it as they end every session. A browser signs in again (`prompt=login`,
  `max_age`): its earlier sign-in, whose cookie stops working, hangs under the new one with the
  client sessions and codes it approved, which keep working, so one sign-out still ends
  everything the browser opened; another user's earlier sign-in ends.
- A code lives 60 seconds and is stored as SHA-256 with what it is bound to: client, redirect
  URI, PKCE challenge, the browser session that approved it, the nonce. Its exchange spends it
  and opens a session of the client under the browser session (ended when that one ends) in one
  transaction; presenting it again ends that session (RFC 6749 4.1.2: a code used twice was
  stolen) and the apps refuse the access token it gave, within seconds.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from atriz_core.accounts.repository import BROWSER_SESSION
from atriz_core.accounts.schemas import TokenPair
from atriz_core.accounts.services import SignedIn, sign_in
from atriz_core.audit import record_event
from atriz_core.client.user_events import SESSIONS_REVOKED
from atriz_core.clients import repository as clients
from atriz_core.context import Core, RequestContext
from atriz_core.oidc import repository
from atriz_core.oidc.repository import BrowserSession, CodeRecord, OpenedSession
from atriz_core.sessions.services import token_pair
from atriz_core.tokens.opaque import hash_token, new_token
from atriz_core.user_events import record_user_event
from atriz_core.users import repository as users

__all__ = [
    "CODE_SECONDS",
    "CodeRefusedError",
    "NonceReplayedError",
    "browser_session",
    "cookie_session",
    "end_browser_session",
    "end_client_sessions",
    "exchange_code",
    "find_code",
    "nonce_used",
    "refresh_token_grant",
    "replace_browser_session",
    "start_browser_session",
    "store_code",
]

CODE_SECONDS = 60


class CodeRefusedError(Exception):
    """The code cannot be exchanged: expired, spent (its session is then ended), or its
    browser session ended meanwhile."""


class NonceReplayedError(Exception):
    """The client sent a nonce it had sent before: a replayed authorization request."""


async def start_browser_session(
    pool: asyncpg.Pool, core: Core, *, email: str, password: str, context: RequestContext
) -> SignedIn:
    """Sign in on core's page: `/auth/login`'s rules, a session whose token is a cookie."""
    return await sign_in(
        pool, core, email=email, password=password, context=context, token_type=BROWSER_SESSION
    )


async def browser_session(
    pool: asyncpg.Pool, core: Core, cookie: str | None
) -> BrowserSession | None:
    """The live browser session of a cookie, or None."""
    if not cookie or len(cookie) > 200:
        return None
    return await repository.get_browser_session(pool, hash_token(cookie), core.clock.now())


async def cookie_session(
    pool: asyncpg.Pool, core: Core, cookie: str | None
) -> repository.CookieSession | None:
    """The live sign-in a cookie names, the cookie working or replaced by a later sign-in of
    the same browser: what a sign-out, or another user's sign-in, in that browser ends."""
    if not cookie or len(cookie) > 200:
        return None
    return await repository.get_cookie_session(pool, hash_token(cookie), core.clock.now())


async def nonce_used(pool: asyncpg.Pool, client_id: str, nonce: str) -> bool:
    return await repository.nonce_used(pool, client_id, nonce)


async def store_code(
    pool: asyncpg.Pool,
    core: Core,
    *,
    code: str,
    client_id: str,
    session: BrowserSession,
    redirect_uri: str,
    scope: str,
    nonce: str | None,
    code_challenge: str,
) -> None:
    """Keep a code handed to a client; `NonceReplayedError` if the nonce was used meanwhile."""
    now = core.clock.now()
    try:
        await repository.insert_code(
            pool,
            code_hash=hash_token(code),
            client_id=client_id,
            session=session,
            redirect_uri=redirect_uri,
            scope=scope,
            nonce=nonce,
            code_challenge=code_challenge,
            now=now,
            expires_at=now + timedelta(seconds=CODE_SECONDS),
        )
    except asyncpg.UniqueViolationError as exc:
        raise NonceReplayedError(nonce) from exc


async def refresh_token_grant(pool: asyncpg.Pool, refresh_token: str) -> tuple[str, str] | None:
    """The client and scope a refresh token was issued to; None if not to a client."""
    if len(refresh_token) > 200:
        return None
    return await repository.refresh_token_grant(pool, hash_token(refresh_token))


async def find_code(pool: asyncpg.Pool, code: str) -> CodeRecord | None:
    """A code as stored (spent or not) for the checks of its exchange."""
    if len(code) > 200:
        return None
    return await repository.get_code(pool, hash_token(code))


@dataclass(frozen=True)
class Exchanged:
    """What a code's exchange issued."""

    tokens: TokenPair
    session_id: uuid.UUID
    user: OpenedSession


async def exchange_code(
    pool: asyncpg.Pool,
    core: Core,
    *,
    code: str,
    stored: CodeRecord,
    context: RequestContext,
    third_party: bool,
) -> Exchanged:
    """Spend a code its client presented (client, redirect URI and PKCE verifier checked) and
    open the client's session; `CodeRefusedError` otherwise. A `third_party` client's access
    token only reads who the user is (`token_pair`)."""
    now = core.clock.now()
    code_hash = hash_token(code)
    session_id = uuid.uuid4()
    refresh_token, refresh_hash = new_token()
    async with pool.acquire() as connection:
        async with connection.transaction():
            # As a refresh does (`users.hold_for_a_token`): the roles read below are the ones
            # after any change to the user that held its row, and the token is issued then.
            await users.hold_for_a_token(connection, stored.user_id)
            # And the client, before its code: its removal (which locks it first) then sees
            # the session opened here, or this finds it gone.
            if not await clients.hold_client(connection, stored.client_id):
                raise CodeRefusedError("the client has been removed")
            issued_at = core.clock.now()
            spent_now = await repository.consume_code(connection, code_hash, now)
            opened = None
            if spent_now:
                opened = await repository.open_client_session(
                    connection,
                    code_hash=code_hash,
                    session_id=session_id,
                    client_id=stored.client_id,
                    scope=stored.scope,
                    browser_session_id=stored.browser_session_id,
                    now=now,
                    token_hash=refresh_hash,
                    token_expires_at=now + timedelta(seconds=core.settings.refresh_token_seconds),
                    user_agent=context.user_agent,
                    client_address=context.client_address,
                )
        if not spent_now:
            if stored.expires_at > now:  # not expired: spent before, so stolen
                await _revoke_replayed_code(connection, core, code_hash, stored, context)
            raise CodeRefusedError("the code is expired or was used already")
    if opened is None:
        raise CodeRefusedError("the sign-in behind the code has ended")
    tokens = token_pair(
        core,
        user_id=stored.user_id,
        email=opened.email,
        roles=opened.roles,
        session_id=session_id,
        refresh_token=refresh_token,
        issued_at=issued_at,
        client_id=stored.client_id,
        scope=stored.scope,
        third_party=third_party,
    )
    return Exchanged(tokens, session_id, opened)


async def _revoke_replayed_code(
    connection: asyncpg.Connection,
    core: Core,
    code_hash: bytes,
    stored: CodeRecord,
    context: RequestContext,
) -> None:
    now = core.clock.now()
    async with connection.transaction():
        user_id = await repository.revoke_code_session(connection, code_hash, now)
        if user_id is not None:
            # The access token the first exchange gave is refused by the apps too.
            await record_user_event(connection, user_id, SESSIONS_REVOKED, at=core.clock.now())
        await record_event(
            connection,
            "code_reuse",
            user_id=stored.user_id,
            context=context,
            details={"client": stored.client_id},
        )


async def end_client_sessions(
    pool: asyncpg.Pool,
    core: Core,
    browser_session_id: uuid.UUID,
    client_id: str,
    context: RequestContext,
) -> None:
    """Sign the user out of one client: the sessions it opened under a browser session end;
    the browser session and the other clients' stay. A third-party client's tokens serve no app,
    and core checks their session on every request, so no `user_events` entry is needed."""
    async with pool.acquire() as connection, connection.transaction():
        now = core.clock.now()
        user_id = await repository.end_client_sessions(
            connection, browser_session_id, client_id, now
        )
        if user_id is not None:
            await record_event(
                connection,
                "logout",
                user_id=user_id,
                context=context,
                details={"session": str(browser_session_id), "client": client_id},
            )


async def replace_browser_session(
    pool: asyncpg.Pool,
    core: Core,
    cookie: str | None,
    current: SignedIn,
    context: RequestContext,
) -> None:
    """A browser whose `cookie` named an earlier sign-in has signed in again (`current`), so
    that a sign-out later ends everything this browser opened: the same user's earlier sign-in
    hangs under the new one (its cookie stops working; the apps it signed in, and its codes,
    keep working), another user's ends with its apps.

    The cookie is looked up even if a sign-in of the same browser revoked it a moment ago
    (`cookie_session`): two sign-ins at once (a double click) both replace it, one hung under
    the other, and a browser that never got the answer of its last sign-in still holds it."""
    earlier = await cookie_session(pool, core, cookie)
    if earlier is None or earlier.id == current.session_id:
        return
    if earlier.user_id != current.user.id:
        await end_browser_session(pool, core, earlier.id, context)
        return
    async with pool.acquire() as connection, connection.transaction():
        # The user first, as every change to a user's sessions: two sign-ins at once in one
        # browser hang one under the other, never both under the earlier one alone.
        await users.get_user(connection, earlier.user_id, for_update=True)
        if await repository.replace_browser_session(
            connection, earlier.id, current.session_id, core.clock.now()
        ):
            await record_event(
                connection,
                "sign_in_replaced",
                user_id=earlier.user_id,
                context=context,
                details={"session": str(earlier.id), "replaced_by": str(current.session_id)},
            )


async def end_browser_session(
    pool: asyncpg.Pool, core: Core, session_id: uuid.UUID, context: RequestContext
) -> None:
    """Sign out at core: end the browser session and every client session it approved; the
    apps refuse the user's access tokens issued before, within seconds."""
    async with pool.acquire() as connection, connection.transaction():
        # The user first, as every change to a user: a code exchange under this browser session
        # (which holds the user) commits before, and the sessions it opened end here too.
        owner = await repository.browser_session_user(connection, session_id)
        if owner is None:
            return
        await users.get_user(connection, owner, for_update=True)
        user_id = await repository.end_browser_session(connection, session_id, core.clock.now())
        if user_id is None:
            return
        await record_user_event(connection, user_id, SESSIONS_REVOKED, at=core.clock.now())
        await record_event(
            connection,
            "logout",
            user_id=user_id,
            context=context,
            details={"session": str(session_id), "browser": True},
        )
