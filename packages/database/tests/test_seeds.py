"""Seed files: run in name order, idempotent, all or nothing, refused in production."""

from __future__ import annotations

import psycopg
import pytest

from atriz_database import DatabaseTarget, MigrationError, RefusedError
from atriz_database.migrations import Requirement, migrate
from atriz_database.seeds import seed
from atriz_database.testing import write_migration


def never_required(requirement: Requirement) -> bool:
    raise AssertionError(f"unexpected requirement {requirement}")


@pytest.fixture
def seeded_target(sample: DatabaseTarget, empty_database_url: str) -> DatabaseTarget:
    write_migration(
        sample,
        "0001_create_roles",
        "CREATE TABLE roles (name text PRIMARY KEY, rank int NOT NULL);",
    )
    migrate(sample, empty_database_url, requirement_met=never_required)
    (sample.seeds / "10_roles.sql").write_text(
        "INSERT INTO roles VALUES ('admin', 1), ('user', 2) ON CONFLICT DO NOTHING;",
        encoding="utf-8",
    )
    # Runs after 10_roles.sql, and relies on it.
    (sample.seeds / "20_more_roles.sql").write_text(
        "INSERT INTO roles SELECT 'moderator', rank + 1 FROM roles WHERE name = 'admin'"
        " ON CONFLICT DO NOTHING;",
        encoding="utf-8",
    )
    return sample


def roles(url: str) -> list[tuple[str, int]]:
    with psycopg.connect(url) as connection:
        rows = connection.execute("SELECT name, rank FROM roles ORDER BY rank, name").fetchall()
    return [(str(name), int(rank)) for name, rank in rows]


def test_seeds_run_in_order_and_again_change_nothing(
    seeded_target: DatabaseTarget, empty_database_url: str
) -> None:
    ran = seed(seeded_target, empty_database_url)
    seed(seeded_target, empty_database_url)

    assert [p.name for p in ran] == ["10_roles.sql", "20_more_roles.sql"]
    assert roles(empty_database_url) == [("admin", 1), ("moderator", 2), ("user", 2)]


def test_a_failing_seed_writes_nothing(
    seeded_target: DatabaseTarget, empty_database_url: str
) -> None:
    (seeded_target.seeds / "30_broken.sql").write_text(
        "INSERT INTO roles VALUES ('broken', NULL);", encoding="utf-8"
    )

    with pytest.raises(MigrationError, match=r"seed 30_broken\.sql failed: null value"):
        seed(seeded_target, empty_database_url)

    assert roles(empty_database_url) == []


def test_seeding_is_refused_in_production(
    seeded_target: DatabaseTarget, empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATRIZ_ENV", "production")
    with pytest.raises(RefusedError, match="refused when ATRIZ_ENV=production"):
        seed(seeded_target, empty_database_url)
    assert roles(empty_database_url) == []
