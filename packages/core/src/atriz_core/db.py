"""Core's database target: `atriz_shared`, registered under the `atriz.databases` entry points."""

from pathlib import Path

from atriz_core.client.user_events import RENUMBER_RESTORED_SQL
from atriz_database import DatabaseTarget

__all__ = ["target"]

_HERE = Path(__file__).parent

target = DatabaseTarget(
    name="core",
    database="atriz_shared",
    url_env="SHARED_DATABASE_URL",
    migrations=_HERE / "migrations",
    seeds=_HERE / "seeds",
    kept_by_clean=("roles",),  # the built-in ones come from a migration
    after_restore=RENUMBER_RESTORED_SQL,
)
