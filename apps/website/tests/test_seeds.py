"""The development seeds: idempotent, by the seeded users, and consistent with the code."""

from __future__ import annotations

import asyncpg

from atriz_core.testing import DatabaseFactory
from atriz_database.seeds import seed
from atriz_website.articles.rendering import render_markdown
from atriz_website.db import target


async def test_seeds_load_twice_and_their_html_is_what_the_renderer_makes(
    migrated_database: DatabaseFactory, core_database_url: str
) -> None:
    database = migrated_database("website", seeded=True)
    seed(target, database.url)  # a second run changes nothing

    connection = await asyncpg.connect(database.url)
    try:
        rows = await connection.fetch(
            "SELECT slug, body, body_html, status, author_id FROM articles ORDER BY slug"
        )
        profiles = await connection.fetchval("SELECT count(*) FROM user_profiles")
        found = await connection.fetchval(
            "SELECT slug FROM articles"
            " WHERE search @@ websearch_to_tsquery('atriz_english', 'creme')"
        )
    finally:
        await connection.close()

    assert profiles == 3
    assert len(rows) == 5
    assert {row["status"] for row in rows} == {"published", "draft"}
    for row in rows:
        assert row["body_html"] == render_markdown(row["body"]), row["slug"]
    assert found == "creme-brulee"
