"""The migration that makes sessions rows: old refresh tokens keep working as they should, and
nothing revoked comes back, either way."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from atriz_core.db import target
from atriz_database.migrations import migrate, rollback
from atriz_database.testing import MakeDatabase

SESSIONS_MIGRATION = "20261202_010000_create_sessions"


def migrations_from_sessions_on() -> int:
    names = {p.name.removesuffix(".sql") for p in target.migrations.glob("*.sql")}
    ids = {n for n in names if not n.endswith(".rollback")}
    return sum(1 for migration_id in ids if migration_id >= SESSIONS_MIGRATION)


async def test_old_refresh_tokens_become_sessions_and_come_back_revoked(
    make_database: MakeDatabase,
) -> None:
    url = make_database("core")
    quiet = {"out": lambda _: None}
    migrate(target, url, requirement_met=lambda _: True, **quiet)
    rollback(target, url, count=migrations_from_sessions_on(), **quiet)

    now = datetime.now(UTC)
    raced, tabs = uuid.uuid4(), uuid.uuid4()
    connection = await asyncpg.connect(url)
    try:
        user = await connection.fetchval(
            "INSERT INTO users (email, password_hash, name) VALUES ('a@example.test', 'x', 'A')"
            " RETURNING id"
        )

        async def token(family: uuid.UUID, name: str, age: int, **state: datetime) -> None:
            await connection.execute(
                "INSERT INTO auth_tokens (user_id, token_type, token_hash, family_id, expires_at,"
                " created_at, used_at, revoked_at) VALUES ($1, 'refresh', $2, $3, $4, $5, $6, $7)",
                user,
                name.encode(),
                family,
                now + timedelta(days=1),
                now - timedelta(minutes=age),
                state.get("used_at"),
                state.get("revoked_at"),
            )

        # A family revoked while a refresh ran beside it: one token escaped the revocation.
        await token(raced, "raced-1", 30, used_at=now, revoked_at=now)
        await token(raced, "raced-2", 20)
        # Two tabs forked a session under the old code: two unused tokens.
        await token(tabs, "tabs-1", 30, used_at=now)
        await token(tabs, "tabs-2", 20)
        await token(tabs, "tabs-3", 10)
    finally:
        await connection.close()

    migrate(target, url, requirement_met=lambda _: True, **quiet)

    connection = await asyncpg.connect(url)
    try:
        sessions = {
            row["id"]: row
            for row in await connection.fetch("SELECT id, generation, revoked_at FROM sessions")
        }
        generations = dict(
            await connection.fetch("SELECT token_hash, generation FROM auth_tokens")  # type: ignore[arg-type]
        )
        assert sessions[raced]["revoked_at"] is not None, "the escaped token stays dead"
        assert sessions[tabs]["revoked_at"] is None
        assert generations[b"tabs-2"] == generations[b"tabs-3"] == sessions[tabs]["generation"]
        await connection.execute("UPDATE sessions SET revoked_at = now() WHERE id = $1", tabs)
    finally:
        await connection.close()

    rollback(target, url, count=migrations_from_sessions_on(), **quiet)

    connection = await asyncpg.connect(url)
    try:
        live = await connection.fetchval(
            "SELECT count(*) FROM auth_tokens WHERE revoked_at IS NULL"
        )
    finally:
        await connection.close()
    assert live == 0, "a session revoked under the new code stays revoked under the old"
