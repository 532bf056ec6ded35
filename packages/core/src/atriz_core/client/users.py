"""Checking user references: apps hold user ids from `atriz_shared` with no foreign key, so they
check, before a write, that each referenced user exists and is active."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

import asyncpg

from atriz_core.errors import FieldProblem, InvalidInputError

__all__ = ["UnknownUserError", "check_users", "missing_users"]

# Readable through the least-privilege app role: it sees only these user columns.
_ACTIVE_USERS = """
SELECT id FROM users
WHERE id = ANY($1::uuid[]) AND is_active AND deleted_at IS NULL
"""


class UnknownUserError(InvalidInputError):
    """A referenced user does not exist or is not active; apps answer it with 422."""

    def __init__(self, field: str, missing: list[uuid.UUID]) -> None:
        reason = "refers to no active user: " + ", ".join(str(m) for m in missing)
        super().__init__(f"{field} {reason}", [FieldProblem(field, reason)])
        self.field = field
        self.missing = missing


async def missing_users(
    shared: asyncpg.Pool | asyncpg.Connection, user_ids: Iterable[uuid.UUID]
) -> list[uuid.UUID]:
    """The ids among `user_ids` that are not active users, in one query, in input order."""
    wanted = list(dict.fromkeys(user_ids))
    if not wanted:
        return []
    rows = await shared.fetch(_ACTIVE_USERS, wanted)
    found = {row["id"] for row in rows}
    return [user_id for user_id in wanted if user_id not in found]


async def check_users(
    shared: asyncpg.Pool | asyncpg.Connection,
    user_ids: Iterable[uuid.UUID],
    *,
    field: str = "user_id",
) -> None:
    """Raise `UnknownUserError` naming `field` unless every id is an active user."""
    missing = await missing_users(shared, user_ids)
    if missing:
        raise UnknownUserError(field, missing)
