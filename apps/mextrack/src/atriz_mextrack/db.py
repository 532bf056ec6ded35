"""Mextrack's database target, `mextrack_db`, registered under the `atriz.databases` entry
points."""

from pathlib import Path

from atriz_core.kit.references import user_reference
from atriz_database import DatabaseTarget

__all__ = ["target"]

_HERE = Path(__file__).parent

target = DatabaseTarget(
    name="mextrack",
    database="mextrack_db",
    url_env="MEXTRACK_DATABASE_URL",
    migrations=_HERE / "migrations",
    seeds=_HERE / "seeds",
    depends_on=("core",),
    references=(user_reference("vehicles.owner_id"),),
    repair="atriz_mextrack.users:repair_references",
)
