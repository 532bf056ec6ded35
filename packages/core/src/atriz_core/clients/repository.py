"""SQL of the registered clients (`oauth_clients`): one function per statement."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

__all__ = [
    "ClientRecord",
    "add_redirect_uris",
    "delete_client",
    "get_client",
    "insert_client",
    "list_clients",
    "revoke_client_sessions",
    "update_client_secret",
]

_COLUMNS = (
    "id, name, secret_hash, redirect_uris, post_logout_redirect_uris, first_party,"
    " created_at, updated_at"
)


@dataclass(frozen=True)
class ClientRecord:
    id: str
    name: str
    secret_hash: bytes | None
    """SHA-256 of the secret; None for a public client."""
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...]
    first_party: bool
    created_at: datetime
    updated_at: datetime

    @property
    def public(self) -> bool:
        """A client without a secret (a native or single-page app): PKCE is its only proof."""
        return self.secret_hash is None


def _client(row: asyncpg.Record | None) -> ClientRecord | None:
    if row is None:
        return None
    return ClientRecord(
        id=row["id"],
        name=row["name"],
        secret_hash=row["secret_hash"],
        redirect_uris=tuple(row["redirect_uris"]),
        post_logout_redirect_uris=tuple(row["post_logout_redirect_uris"]),
        first_party=row["first_party"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def insert_client(
    connection: asyncpg.Connection | asyncpg.Pool,
    *,
    client_id: str,
    name: str,
    secret_hash: bytes | None,
    redirect_uris: list[str],
    post_logout_redirect_uris: list[str],
    first_party: bool,
) -> ClientRecord:
    """A new client; `asyncpg.UniqueViolationError` if the id is taken."""
    row = await connection.fetchrow(
        "INSERT INTO oauth_clients (id, name, secret_hash, redirect_uris,"
        " post_logout_redirect_uris, first_party) VALUES ($1, $2, $3, $4, $5, $6)"
        f" RETURNING {_COLUMNS}",
        client_id,
        name,
        secret_hash,
        redirect_uris,
        post_logout_redirect_uris,
        first_party,
    )
    client = _client(row)
    assert client is not None
    return client


async def get_client(
    connection: asyncpg.Connection | asyncpg.Pool, client_id: str, *, for_update: bool = False
) -> ClientRecord | None:
    """The client; with `for_update`, locked until the transaction ends (its removal), so that
    a code exchange opening a session of it (`hold_client`) finishes first, or waits."""
    lock = " FOR UPDATE" if for_update else ""
    return _client(
        await connection.fetchrow(
            f"SELECT {_COLUMNS} FROM oauth_clients WHERE id = $1{lock}", client_id
        )
    )


async def hold_client(connection: asyncpg.Connection, client_id: str) -> bool:
    """Lock the client FOR KEY SHARE until the transaction ends, before opening a session of
    it; False if it is gone. Its removal then either sees the session, or comes after it."""
    held: bool = await connection.fetchval(
        "SELECT EXISTS (SELECT FROM oauth_clients WHERE id = $1 FOR KEY SHARE)", client_id
    )
    return held


async def list_clients(connection: asyncpg.Connection | asyncpg.Pool) -> list[ClientRecord]:
    rows = await connection.fetch(f"SELECT {_COLUMNS} FROM oauth_clients ORDER BY id")
    return [client for client in map(_client, rows) if client is not None]


async def update_client_secret(
    connection: asyncpg.Connection | asyncpg.Pool,
    client_id: str,
    secret_hash: bytes,
    now: datetime,
) -> bool:
    """Replace a confidential client's secret; False if there is no such confidential client."""
    status: str = await connection.execute(
        "UPDATE oauth_clients SET secret_hash = $2, updated_at = $3"
        " WHERE id = $1 AND secret_hash IS NOT NULL",
        client_id,
        secret_hash,
        now,
    )
    return status.endswith(" 1")


async def add_redirect_uris(
    connection: asyncpg.Connection | asyncpg.Pool,
    client_id: str,
    redirect_uri: str,
    post_logout_redirect_uri: str,
) -> bool:
    """Add a redirect URI and a post-logout redirect URI to a client unless it has them;
    True if anything was added."""
    status: str = await connection.execute(
        "UPDATE oauth_clients SET"
        " redirect_uris = CASE WHEN $2 = ANY (redirect_uris) THEN redirect_uris"
        "  ELSE redirect_uris || $2 END,"
        " post_logout_redirect_uris = CASE WHEN $3 = ANY (post_logout_redirect_uris)"
        "  THEN post_logout_redirect_uris ELSE post_logout_redirect_uris || $3 END,"
        " updated_at = now()"
        " WHERE id = $1"
        "  AND NOT ($2 = ANY (redirect_uris) AND $3 = ANY (post_logout_redirect_uris))",
        client_id,
        redirect_uri,
        post_logout_redirect_uri,
    )
    return status.endswith(" 1")


async def revoke_client_sessions(
    connection: asyncpg.Connection, client_id: str, now: datetime
) -> list[uuid.UUID]:
    """End every live session of a client; the users whose sessions ended."""
    rows = await connection.fetch(
        "WITH ended AS ("
        "  UPDATE sessions SET revoked_at = $2 WHERE client_id = $1 AND revoked_at IS NULL"
        "  RETURNING user_id"
        ") SELECT DISTINCT user_id FROM ended",
        client_id,
        now,
    )
    return [row["user_id"] for row in rows]


async def delete_client(connection: asyncpg.Connection, client_id: str) -> bool:
    """Remove a client; its codes and sessions (with their refresh tokens) go with it."""
    status: str = await connection.execute("DELETE FROM oauth_clients WHERE id = $1", client_id)
    return status.endswith(" 1")
