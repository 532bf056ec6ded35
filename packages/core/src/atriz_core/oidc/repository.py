"""SQL of the OpenID Connect provider: browser sessions, authorization codes, the sessions a
code's exchange opens. One function per statement."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

__all__ = [
    "MAX_NONCE_LENGTH",
    "REPLACED_COOKIE_SECONDS",
    "BrowserSession",
    "CodeRecord",
    "CookieSession",
    "OpenedSession",
    "consume_code",
    "end_browser_session",
    "get_browser_session",
    "get_code",
    "get_cookie_session",
    "insert_code",
    "nonce_used",
    "open_client_session",
    "purge_codes",
    "refresh_token_grant",
    "replace_browser_session",
    "revoke_code_session",
]

# `oauth_codes_nonce_length`: a longer nonce is refused before a code is made.
MAX_NONCE_LENGTH = 512


@dataclass(frozen=True)
class BrowserSession:
    """A live browser session at core and its user, who can sign in."""

    id: uuid.UUID
    user_id: uuid.UUID
    email: str
    name: str
    email_verified: bool
    auth_time: datetime
    """When the user signed in (the session's start)."""
    expires_at: datetime


@dataclass(frozen=True)
class CodeRecord:
    client_id: str
    user_id: uuid.UUID
    browser_session_id: uuid.UUID
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str
    auth_time: datetime
    expires_at: datetime
    used_at: datetime | None


@dataclass(frozen=True)
class OpenedSession:
    """The user of a client session a code's exchange opened, as its tokens describe them."""

    email: str
    name: str
    email_verified: bool
    roles: list[str]


async def get_browser_session(
    connection: asyncpg.Connection | asyncpg.Pool, token_hash: bytes, now: datetime
) -> BrowserSession | None:
    """The browser session whose cookie hashes to `token_hash`, if it is live and its user can
    sign in: logout, logout-all and deactivation end it by revoking its session row."""
    row = await connection.fetchrow(
        "SELECT s.id, s.user_id, u.email, u.name, u.email_verified_at IS NOT NULL AS verified,"
        " s.created_at, s.expires_at"
        " FROM auth_tokens t"
        " JOIN sessions s ON s.id = t.family_id"
        " JOIN users u ON u.id = s.user_id"
        " WHERE t.token_hash = $1 AND t.token_type = 'browser_session'"
        "  AND t.revoked_at IS NULL AND t.expires_at > $2"
        "  AND s.revoked_at IS NULL AND s.expires_at > $2"
        "  AND u.is_active AND u.deleted_at IS NULL",
        token_hash,
        now,
    )
    if row is None:
        return None
    return BrowserSession(
        id=row["id"],
        user_id=row["user_id"],
        email=row["email"],
        name=row["name"],
        email_verified=row["verified"],
        auth_time=row["created_at"],
        expires_at=row["expires_at"],
    )


# How long a cookie that a later sign-in of the same browser replaced (the only way a cookie
# ends while its session lives on) still names the browser's sign-ins, for a browser that never
# got that sign-in's answer (a closed tab, a proxy's 504). Not longer: a cookie stolen long ago
# must not sign the user out of the sign-ins made since.
REPLACED_COOKIE_SECONDS = 600


@dataclass(frozen=True)
class CookieSession:
    """The live session a browser's cookie was issued for, whether the cookie still works or
    a later sign-in of the same browser replaced it at most `REPLACED_COOKIE_SECONDS` ago:
    either way, it names this browser's sign-ins (for signing out, and for a sign-in again)."""

    id: uuid.UUID
    user_id: uuid.UUID


async def get_cookie_session(
    connection: asyncpg.Connection | asyncpg.Pool, token_hash: bytes, now: datetime
) -> CookieSession | None:
    row = await connection.fetchrow(
        "SELECT s.id, s.user_id"
        " FROM auth_tokens t JOIN sessions s ON s.id = t.family_id"
        " WHERE t.token_hash = $1 AND t.token_type = 'browser_session' AND t.expires_at > $2"
        "  AND (t.revoked_at IS NULL OR t.revoked_at > $2 - make_interval(secs => $3))"
        "  AND s.revoked_at IS NULL AND s.expires_at > $2",
        token_hash,
        now,
        float(REPLACED_COOKIE_SECONDS),
    )
    return None if row is None else CookieSession(**dict(row))


async def nonce_used(
    connection: asyncpg.Connection | asyncpg.Pool, client_id: str, nonce: str
) -> bool:
    used: bool = await connection.fetchval(
        "SELECT EXISTS (SELECT FROM oauth_codes WHERE client_id = $1 AND nonce = $2)",
        client_id,
        nonce,
    )
    return used


async def insert_code(
    connection: asyncpg.Connection | asyncpg.Pool,
    *,
    code_hash: bytes,
    client_id: str,
    session: BrowserSession,
    redirect_uri: str,
    scope: str,
    nonce: str | None,
    code_challenge: str,
    now: datetime,
    expires_at: datetime,
) -> None:
    """Store a new code; `asyncpg.UniqueViolationError` if the client used `nonce` before."""
    await connection.execute(
        "INSERT INTO oauth_codes (code_hash, client_id, user_id, browser_session_id,"
        " redirect_uri, scope, nonce, code_challenge, created_at, expires_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        code_hash,
        client_id,
        session.user_id,
        session.id,
        redirect_uri,
        scope,
        nonce,
        code_challenge,
        now,
        expires_at,
    )


async def get_code(
    connection: asyncpg.Connection | asyncpg.Pool, code_hash: bytes
) -> CodeRecord | None:
    """A code, spent or not (a spent one presented again is a replay to act on)."""
    row = await connection.fetchrow(
        "SELECT c.client_id, c.user_id, c.browser_session_id, c.redirect_uri, c.scope, c.nonce,"
        " c.code_challenge, s.created_at AS auth_time, c.expires_at, c.used_at"
        " FROM oauth_codes c JOIN sessions s ON s.id = c.browser_session_id"
        " WHERE c.code_hash = $1",
        code_hash,
    )
    return CodeRecord(**dict(row)) if row is not None else None


async def consume_code(connection: asyncpg.Connection, code_hash: bytes, now: datetime) -> bool:
    """Spend a live code; False if it was spent already (or expired). The row lock makes a
    concurrent second exchange wait, then find the code spent."""
    status: str = await connection.execute(
        "UPDATE oauth_codes SET used_at = $2"
        " WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2",
        code_hash,
        now,
    )
    return status.endswith(" 1")


async def open_client_session(
    connection: asyncpg.Connection,
    *,
    code_hash: bytes,
    session_id: uuid.UUID,
    client_id: str,
    scope: str,
    browser_session_id: uuid.UUID,
    now: datetime,
    token_hash: bytes,
    token_expires_at: datetime,
    user_agent: str | None,
    client_address: str | None,
) -> OpenedSession | None:
    """Open the client's session under a live browser session (ending when it ends), with its
    first refresh token, and note it on the code; who the user is. None, and
    nothing written, if the browser session or its user is no longer live."""
    row = await connection.fetchrow(
        "WITH browser AS ("
        "  SELECT s.id, s.user_id, s.expires_at, u.email, u.name,"
        "   u.email_verified_at IS NOT NULL AS verified FROM sessions s"
        "  JOIN users u ON u.id = s.user_id"
        "  WHERE s.id = $5 AND s.revoked_at IS NULL AND s.expires_at > $6"
        "   AND u.is_active AND u.deleted_at IS NULL"
        "  FOR UPDATE OF s"
        "), opened AS ("
        "  INSERT INTO sessions (id, user_id, client_id, scope, browser_session_id, created_at,"
        "   expires_at)"
        "  SELECT $2, user_id, $3, $4, id, $6, expires_at FROM browser"
        "  RETURNING id, user_id, expires_at"
        "), refresh AS ("
        "  INSERT INTO auth_tokens (user_id, token_type, token_hash, family_id, generation,"
        "   expires_at, user_agent, client_address)"
        "  SELECT user_id, 'refresh', $7, id, 1, least($8, expires_at), $9, $10 FROM opened"
        "), noted AS ("
        "  UPDATE oauth_codes SET session_id = opened.id FROM opened WHERE code_hash = $1"
        ")"
        " SELECT browser.email, browser.name, browser.verified, array("
        "  SELECT r.name FROM user_roles ur JOIN roles r ON r.id = ur.role_id"
        "  WHERE ur.user_id = browser.user_id ORDER BY r.name) AS roles"
        " FROM browser",
        code_hash,
        session_id,
        client_id,
        scope,
        browser_session_id,
        now,
        token_hash,
        token_expires_at,
        user_agent,
        client_address,
    )
    if row is None:
        return None
    return OpenedSession(row["email"], row["name"], row["verified"], list(row["roles"]))


async def refresh_token_grant(
    connection: asyncpg.Connection | asyncpg.Pool, token_hash: bytes
) -> tuple[str, str] | None:
    """The client and scope of a client session's refresh token; None for any other token."""
    row = await connection.fetchrow(
        "SELECT s.client_id, s.scope FROM auth_tokens t JOIN sessions s ON s.id = t.family_id"
        " WHERE t.token_hash = $1 AND t.token_type = 'refresh' AND s.client_id IS NOT NULL",
        token_hash,
    )
    return (row["client_id"], row["scope"] or "") if row is not None else None


async def revoke_code_session(
    connection: asyncpg.Connection, code_hash: bytes, now: datetime
) -> uuid.UUID | None:
    """End the session a spent code opened (it is presented again: stolen); its user."""
    user_id: uuid.UUID | None = await connection.fetchval(
        "UPDATE sessions SET revoked_at = $2"
        " WHERE id = (SELECT session_id FROM oauth_codes WHERE code_hash = $1)"
        "  AND revoked_at IS NULL"
        " RETURNING user_id",
        code_hash,
        now,
    )
    return user_id


async def browser_session_user(
    connection: asyncpg.Connection, session_id: uuid.UUID
) -> uuid.UUID | None:
    """The user of a browser session, live or not; None if there is no such session."""
    user_id: uuid.UUID | None = await connection.fetchval(
        "SELECT user_id FROM sessions WHERE id = $1", session_id
    )
    return user_id


# A browser's sign-ins form a tree: a sign-in replaced by a later one in the same browser hangs
# under it (`browser_session_id`), as the sessions each approved for clients hang under it.
# `up`: a session and those above it, up to the tree's root (the one above none).
_UP = """
WITH RECURSIVE up AS (
    SELECT id, browser_session_id FROM sessions WHERE id = $1
    UNION ALL
    SELECT s.id, s.browser_session_id FROM sessions s JOIN up ON s.id = up.browser_session_id
), root AS (SELECT id FROM up WHERE browser_session_id IS NULL)
"""
# `tree`: the root and every session under it (one under a session over may still be live: its
# sign-in came before CORE_SESSION_MAX_SECONDS was lowered).
_TREE = """
tree AS (
    SELECT id FROM root
    UNION ALL
    SELECT s.id FROM sessions s JOIN tree ON s.browser_session_id = tree.id
)
"""
# Only a session not over ends anything: an old ID token of it, from a logout link in a history
# or a log, must not end the sign-ins that came after it. $1 the session, $2 now.
_NOT_OVER = "EXISTS (SELECT FROM sessions WHERE id = $1 AND expires_at > $2)"


async def end_browser_session(
    connection: asyncpg.Connection, session_id: uuid.UUID, now: datetime
) -> uuid.UUID | None:
    """End a browser session with its whole tree: the sign-ins of the same browser it replaced
    or was replaced by, and every client session any of them approved; its user, if any of
    them was live."""
    rows = await connection.fetch(
        f"{_UP}, {_TREE} UPDATE sessions SET revoked_at = $2"
        f" WHERE id IN (SELECT id FROM tree) AND revoked_at IS NULL AND {_NOT_OVER}"
        " RETURNING user_id",
        session_id,
        now,
    )
    return rows[0]["user_id"] if rows else None


async def replace_browser_session(
    connection: asyncpg.Connection, previous: uuid.UUID, current: uuid.UUID, now: datetime
) -> bool:
    """Hang the tree of browser session `previous` under `current` (its root, should another
    sign-in have replaced it first: two at once) and revoke `previous`'s cookie. Its codes and
    the client sessions it approved keep working, and ending `current` ends them. Whether
    `previous` was live (nothing changes otherwise)."""
    live: bool = await connection.fetchval(
        f"{_UP}, hung AS ("
        "  UPDATE sessions SET browser_session_id = $2 FROM root"
        "  WHERE sessions.id = root.id AND sessions.id <> $2"
        "   AND EXISTS (SELECT FROM sessions WHERE id = $1 AND revoked_at IS NULL)"
        "  RETURNING sessions.id"
        "), cookie AS ("
        "  UPDATE auth_tokens SET revoked_at = $3"
        "  WHERE family_id = $1 AND token_type = 'browser_session' AND revoked_at IS NULL"
        "   AND EXISTS (SELECT FROM hung)"
        ")"
        " SELECT EXISTS (SELECT FROM hung)",
        previous,
        current,
        now,
    )
    return live


async def end_client_sessions(
    connection: asyncpg.Connection, browser_session_id: uuid.UUID, client_id: str, now: datetime
) -> uuid.UUID | None:
    """End the sessions one client opened under a browser session's tree (the sign-ins of the
    same browser it replaced or was replaced by); their user, if any was live."""
    rows = await connection.fetch(
        f"{_UP}, {_TREE} UPDATE sessions SET revoked_at = $2"
        " WHERE browser_session_id IN (SELECT id FROM tree) AND client_id = $3"
        f"  AND revoked_at IS NULL AND {_NOT_OVER}"
        " RETURNING user_id",
        browser_session_id,
        now,
        client_id,
    )
    return rows[0]["user_id"] if rows else None


async def purge_codes(connection: asyncpg.Connection | asyncpg.Pool, before: datetime) -> int:
    """Delete codes that expired before `before`; how many. Their nonces may then come again."""
    status: str = await connection.execute("DELETE FROM oauth_codes WHERE expires_at < $1", before)
    return int(status.split()[-1])
