"""The website's database target, `atriz_db` (entry point group `atriz.databases`)."""

from pathlib import Path

from atriz_database import DatabaseTarget, Reference

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
        Reference("user_profiles.user_id", "core", "users.id"),
        Reference("articles.author_id", "core", "users.id"),
    ),
)
