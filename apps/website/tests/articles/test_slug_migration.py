"""The migration that stops drafts reserving their slugs, rolled back: every slug is unique
again, a public article keeping its own and drafts taking a suffix."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from atriz_database.migrations import applied_migration_ids, migrate, rollback
from atriz_database.testing import MakeDatabase
from atriz_website.db import target

SLUG_MIGRATION = "20261204_190000_reserve_only_public_slugs"


async def test_rolling_back_gives_drafts_sharing_a_slug_a_suffix(
    make_database: MakeDatabase,
) -> None:
    url = make_database("website")
    quiet = {"out": lambda _: None}
    migrate(target, url, requirement_met=lambda _: True, **quiet)
    connection = await asyncpg.connect(url)
    try:

        async def article(slug: str, status: str, age_minutes: int) -> uuid.UUID:
            article_id: uuid.UUID = await connection.fetchval(
                "INSERT INTO articles (author_id, slug, title, status, published_at, created_at)"
                " VALUES ($1, $2, 'T', $3, CASE WHEN $3 = 'draft' THEN NULL ELSE now() END,"
                " now() - make_interval(mins => $4)) RETURNING id",
                uuid.uuid4(),
                slug,
                status,
                age_minutes,
            )
            return article_id

        public = await article("shared", "published", 1)
        behind_public = await article("shared", "draft", 3)
        older_draft = await article("drafted", "draft", 3)
        newer_draft = await article("drafted", "draft", 2)
        alone = await article("alone", "draft", 2)

        applied = applied_migration_ids(url)
        rollback(target, url, count=len(applied) - applied.index(SLUG_MIGRATION), **quiet)

        slugs = dict(await connection.fetch("SELECT id, slug FROM articles"))
        assert slugs[public] == "shared"
        assert slugs[older_draft] == "drafted"
        assert slugs[alone] == "alone"
        for draft, base in ((behind_public, "shared"), (newer_draft, "drafted")):
            assert slugs[draft] == f"{base}-{draft.hex[:12]}"
        with pytest.raises(asyncpg.UniqueViolationError):
            await article("alone", "draft", 0)
    finally:
        await connection.close()
