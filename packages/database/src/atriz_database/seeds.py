"""Seed data: each target's `seeds/*.sql` files, run in name order.

Seed files must be idempotent (`INSERT ... ON CONFLICT DO NOTHING`), so running them again changes
nothing. They are development and test data: production refuses them.
"""

from __future__ import annotations

from pathlib import Path

import psycopg

from atriz_database.connections import connect
from atriz_database.errors import MigrationError, RefusedError
from atriz_database.settings import Environment, current_environment
from atriz_database.targets import DatabaseTarget

__all__ = ["refuse_in_production", "seed", "seed_files"]


def refuse_in_production(action: str) -> None:
    """Raise `RefusedError` when `ATRIZ_ENV=production`."""
    if current_environment() is Environment.PRODUCTION:
        raise RefusedError(f"{action} is refused when ATRIZ_ENV=production")


def seed_files(target: DatabaseTarget) -> list[Path]:
    """The target's seed files, in the order they run."""
    if not target.seeds.is_dir():
        return []
    return sorted(target.seeds.glob("*.sql"))


def seed(target: DatabaseTarget, url: str) -> list[Path]:
    """Run every seed file of the target, all in one transaction; return the files run."""
    refuse_in_production("seeding")
    files = seed_files(target)
    with connect(url) as connection, connection.transaction():
        for path in files:
            try:
                connection.execute(path.read_bytes())
            except psycopg.Error as exc:
                reason = (exc.diag.message_primary or str(exc)).strip()
                raise MigrationError(
                    f"seed {path.name} failed: {reason}; no seed data was written"
                ) from exc
    return files
