"""The website's database target, `atriz_db` (entry point group `atriz.databases`)."""

from pathlib import Path

from atriz_core.kit.references import user_reference
from atriz_database import DatabaseTarget

__all__ = ["target"]

_HERE = Path(__file__).parent

target = DatabaseTarget(
    name="website",
    database="atriz_db",
    url_env="WEBSITE_DATABASE_URL",
    migrations=_HERE / "migrations",
    seeds=_HERE / "seeds",
    depends_on=("core",),
    references=(
        user_reference("user_profiles.user_id"),
        user_reference("articles.author_id"),
    ),
    repair="atriz_website.users:repair_references",
)
