"""Mextrack's database target, `mextrack_db`, registered under the `atriz.databases` entry
points."""

from pathlib import Path

from atriz_database import DatabaseTarget, Reference

__all__ = ["target"]

_HERE = Path(__file__).parent

target = DatabaseTarget(
    name="mextrack",
    database="mextrack_db",
    url_env="MEXTRACK_DATABASE_URL",
    migrations=_HERE / "migrations",
    seeds=_HERE / "seeds",
    depends_on=("core",),
    references=(Reference("vehicles.owner_id", "core", "users.id"),),
)
