"""Rules of sessions: refresh-token rotation with reuse detection, logout, revocation.

A session has one generation counter. Each refresh with a token of the current generation
advances it and returns a token of the new one. A token of the generation just before is still
accepted for `CORE_REFRESH_REUSE_GRACE_SECONDS` after that rotation (two tabs refreshing at
once, a retried request) and gets a token of the current generation, without advancing it.
Any other spent token, or the previous generation after the grace window, is taken as stolen:
the session ends. A session also ends `CORE_SESSION_MAX_SECONDS` after its sign-in, however
often it is refreshed.

Every refresh locks the session row, and so does every revocation, so the two never interleave:
once a revocation commits, no token of the session works, a token minted beside it included.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from enum import Enum

import asyncpg

from atriz_core.accounts.schemas import TokenPair
from atriz_core.audit import record_event
from atriz_core.client.user_events import SESSIONS_REVOKED
from atriz_core.client.verifier import Principal
from atriz_core.context import Core, RequestContext
from atriz_core.errors import AuthenticationError
from atriz_core.metrics import CORE_METRICS
from atriz_core.sessions import repository
from atriz_core.sessions.repository import LockedSession, RefreshToken
from atriz_core.tokens.access import issue_access_token
from atriz_core.tokens.opaque import hash_token, new_token
from atriz_core.user_events import record_user_event
from atriz_core.users import repository as users

__all__ = [
    "end_every_session",
    "log_out",
    "log_out_everywhere",
    "refresh_session",
    "token_pair",
]

SESSION_ENDED = "the refresh token is not valid; sign in again"
REUSE_DETECTED = "refresh token reused; the session has been ended"


class _Verdict(Enum):
    ROTATE = "rotate"
    """The current generation: advance the session."""
    CATCH_UP = "catch_up"
    """The previous generation within the grace window: a token of the current one."""
    REUSED = "reused"
    """A spent token outside the grace window: end the session."""
    REFUSED = "refused"
    """Expired, revoked, unknown, or its user can no longer sign in."""


def token_pair(
    core: Core,
    *,
    user_id: uuid.UUID,
    email: str,
    roles: list[str],
    session_id: uuid.UUID,
    refresh_token: str,
    issued_at: datetime,
    client_id: str | None = None,
    scope: str | None = None,
    third_party: bool = False,
) -> TokenPair:
    """A new access token for a session, beside its new refresh token; a client's session's
    access token names the client and its scope.

    A third-party client's token (`third_party`) lets it read who the user is and nothing
    more: its audience is core's issuer (`/oauth/userinfo` accepts it, no app and no other
    route of core does), it carries no roles, and the e-mail only with the `email` scope.

    `issued_at` is core's clock before the statement that read the token's claims, not after
    it: that statement may have waited on a lock held by a change of the user (a role taken
    away) and read the claims from before it. Stamped after the wait, in a later second than
    the change's event, such a token would outlive the change (apps refuse only tokens issued
    up to the event's time, `atriz_core.client.revocations`)."""
    settings = core.settings
    audiences: Sequence[str] = settings.audiences
    if third_party:
        audiences, roles = (settings.issuer,), []
        email = email if "email" in (scope or "").split() else ""
    access_token = issue_access_token(
        core.keyring,
        issuer=settings.issuer,
        audiences=audiences,
        user_id=user_id,
        email=email,
        roles=roles,
        session_id=session_id,
        now=issued_at,
        lifetime_seconds=settings.access_token_seconds,
        client_id=client_id,
        scope=scope,
    )
    return TokenPair(
        access_token=access_token,
        refresh_token=refresh_token,
        expires_in=settings.access_token_seconds,
    )


def _judge(
    core: Core, token: RefreshToken, session: LockedSession | None, client_id: str | None
) -> _Verdict:
    now = core.clock.now()
    if (
        session is None
        # A client's refresh token works for that client alone, at the token endpoint; a
        # token of `/auth/login` only at `/auth/refresh`.
        or session.client_id != client_id
        or session.revoked_at is not None
        or session.expires_at <= now
        or token.expires_at <= now
        or not session.user_can_sign_in
    ):
        return _Verdict.REFUSED
    if token.generation == session.generation:
        return _Verdict.ROTATE
    grace = timedelta(seconds=core.settings.refresh_reuse_grace_seconds)
    if (
        token.generation == session.generation - 1
        and session.rotated_at is not None
        and now - session.rotated_at <= grace
    ):
        return _Verdict.CATCH_UP
    return _Verdict.REUSED


async def refresh_session(
    connection: asyncpg.Connection,
    core: Core,
    *,
    refresh_token: str,
    context: RequestContext,
    client_id: str | None = None,
) -> TokenPair:
    """Rotate a refresh token: a new one of the same session, and a new access token. With
    `client_id`, only a token of that OpenID Connect client's sessions is accepted."""
    now = core.clock.now()
    async with connection.transaction():
        token = await repository.get_refresh_token(connection, hash_token(refresh_token))
        if token is None:
            raise AuthenticationError(SESSION_ENDED)
        # The user first, then the session: the order every change to a user takes them in.
        await users.hold_for_a_token(connection, token.user_id)
        session = await repository.lock_session(connection, token.session_id)
        # Read under the locks: issued after any change that held the user has committed (its
        # roles are read after it, below), and before any change still waiting stamps.
        issued_at = core.clock.now()
        verdict = _judge(core, token, session, client_id)
        if verdict is _Verdict.REUSED and session is not None:
            await repository.revoke_session(connection, session.id, now)
            # One of the two holders is a thief: the apps refuse the access tokens the session
            # gave too (the user's other sessions refresh past it), not only until they expire.
            await record_user_event(
                connection, session.user_id, SESSIONS_REVOKED, at=core.clock.now()
            )
            await record_event(
                connection,
                "refresh_reuse",
                user_id=session.user_id,
                context=context,
                details={"session": str(session.id), "generation": token.generation},
            )
        if session is None or verdict in (_Verdict.REUSED, _Verdict.REFUSED):
            pair = None
        else:
            generation = session.generation + (verdict is _Verdict.ROTATE)
            new_refresh_token, new_hash = new_token()
            idle_end = now + timedelta(seconds=core.settings.refresh_token_seconds)
            roles = await repository.rotate_session(
                connection,
                session=session,
                spent_token_id=token.id,
                generation=generation,
                now=now,
                token_hash=new_hash,
                expires_at=min(idle_end, session.expires_at),
                user_agent=context.user_agent,
                client_address=context.client_address,
            )
            pair = token_pair(
                core,
                user_id=session.user_id,
                email=session.email,
                roles=roles,
                session_id=session.id,
                refresh_token=new_refresh_token,
                issued_at=issued_at,
                client_id=session.client_id,
                scope=session.scope,
                third_party=session.third_party,
            )
    # Raised after the transaction, so that a detected reuse stays revoked and audited.
    if pair is None:
        if verdict is _Verdict.REUSED:
            CORE_METRICS.refresh_reused()
        raise AuthenticationError(REUSE_DETECTED if verdict is _Verdict.REUSED else SESSION_ENDED)
    return pair


async def log_out(
    connection: asyncpg.Connection, core: Core, *, refresh_token: str, context: RequestContext
) -> None:
    """End the session that `refresh_token` belongs to. An unknown token is not an error."""
    async with connection.transaction():
        token = await repository.get_refresh_token(connection, hash_token(refresh_token))
        session = await repository.lock_session(connection, token.session_id) if token else None
        if session is None:
            return
        await repository.revoke_session(connection, session.id, core.clock.now())
        await record_event(
            connection,
            "logout",
            user_id=session.user_id,
            context=context,
            details={"session": str(session.id)},
        )


async def log_out_everywhere(
    connection: asyncpg.Connection, core: Core, principal: Principal, context: RequestContext
) -> int:
    """End every session of the signed-in user; return how many ended.

    The apps hear of it (`sessions_revoked`) and refuse the user's access tokens issued before,
    the caller's own included, within seconds rather than at their expiry."""
    async with connection.transaction():
        # The user first, as every change to a user: a login or a code exchange in flight
        # (which hold the user) commits before, and the session it opened ends here too.
        await users.get_user(connection, principal.id, for_update=True)
        ended = await repository.revoke_user_sessions(connection, principal.id, core.clock.now())
        await record_user_event(connection, principal.id, SESSIONS_REVOKED, at=core.clock.now())
        await record_event(connection, "logout_all", user_id=principal.id, context=context)
    return ended


async def end_every_session(
    connection: asyncpg.Connection, now: Callable[[], datetime]
) -> tuple[int, int]:
    """End every live session of every user, as each signing out everywhere would: the user
    locked first, the apps told (`sessions_revoked`), one transaction per user. For a restore
    of an older `atriz_shared`, which brings back sessions and refresh tokens ended since. How
    many users and sessions."""
    rows = await connection.fetch(
        "SELECT DISTINCT user_id FROM sessions WHERE revoked_at IS NULL AND expires_at > $1",
        now(),
    )
    ended = 0
    for row in rows:
        async with connection.transaction():
            await users.get_user(connection, row["user_id"], for_update=True)
            ended += await repository.revoke_user_sessions(connection, row["user_id"], now())
            await record_user_event(connection, row["user_id"], SESSIONS_REVOKED, at=now())
    return len(rows), ended
