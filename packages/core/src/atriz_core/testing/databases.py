"""Test databases built by the real migrations, for any registered target, core included.

`DatabaseFactory` (the `migrated_database` fixture) creates a fresh database for a target and
migrates it as `db-migrate` does, with no requirement waved through: an app that depends on core
gets the test's core database first (created and migrated on demand), and each of the app's
`-- requires: core MIGRATION` lines is checked against the migrations applied there. A
requirement that is not met stops the migration with `db-migrate`'s own error.

    app_db = migrated_database("pshop")           # a fresh pshop_db, and the test's atriz_shared
    app_db.url, app_db.core_url

Within one test every dependent is migrated against the same database of each dependency
(`migrated_database.shared("core")`, which the `core_database_url` fixture also is), so the users
an app's test creates in `atriz_shared` are the ones the app reads.

Given the session's `DatabaseTemplates` (the fixture does), a fresh database is a copy of the
target's template, migrated once per session, which is checked against the test's databases the
same way; if a copy cannot be made, the database is migrated as above.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypedDict

from atriz_core.testing.templates import DatabaseTemplates
from atriz_database import DatabaseSettings, DatabaseTarget
from atriz_database.cloning import TemplateUnavailableError
from atriz_database.connections import create_database
from atriz_database.migrations import Requirement, applied_migration_ids, migrate
from atriz_database.seeds import seed
from atriz_database.targets import TargetRegistry
from atriz_database.testing import DatabaseRoute

__all__ = ["AppDatabases", "DatabaseFactory", "MigratedDatabase", "app_databases"]

MakeDatabase = Callable[..., str]


@dataclass(frozen=True)
class MigratedDatabase:
    """A database of one target, migrated to the newest migration."""

    target: DatabaseTarget
    url: str
    applied: tuple[str, ...]
    """The ids of the migrations applied, oldest first."""
    dependencies: Mapping[str, str] = field(default_factory=dict)
    """The URL of the database of each target this one was migrated against (`core`: ...)."""

    @property
    def core_url(self) -> str | None:
        """The `atriz_shared` this database goes with: its own URL for core, else core's."""
        return self.url if self.target.name == "core" else self.dependencies.get("core")


class DatabaseFactory:
    """Fresh, migrated databases for a test; dropped when the test ends (by `make_database`)."""

    def __init__(
        self,
        make_database: MakeDatabase,
        registry: TargetRegistry | None = None,
        settings: DatabaseSettings | None = None,
        templates: DatabaseTemplates | None = None,
    ) -> None:
        self._make_database = make_database
        self._registry = registry
        self._settings = settings
        self._templates = templates
        self._shared: dict[str, MigratedDatabase] = {}

    @property
    def registry(self) -> TargetRegistry:
        """The registered targets (entry points `atriz.databases`), read once."""
        if self._registry is None:
            self._registry = TargetRegistry.from_entry_points()
        return self._registry

    def _target(self, target: str | DatabaseTarget) -> DatabaseTarget:
        return target if isinstance(target, DatabaseTarget) else self.registry.get(target)

    def __call__(self, target: str | DatabaseTarget, *, seeded: bool = False) -> MigratedDatabase:
        """A new database for `target` (a registered name, or a `DatabaseTarget` such as a test
        app's), migrated; its dependencies are the test's shared ones. `seeded` also runs the
        target's seed files."""
        resolved = self._target(target)
        dependencies = {name: self.shared(name).url for name in resolved.depends_on}
        url = self._make_database(resolved.name, create=False)
        if not self._copied(resolved, seeded, url, dependencies):
            create_database(url)
            self._migrate(resolved, seeded, url, dependencies)
        return MigratedDatabase(
            resolved, url, tuple(applied_migration_ids(url)), dict(dependencies)
        )

    def _migrate(
        self, target: DatabaseTarget, seeded: bool, url: str, dependencies: dict[str, str]
    ) -> tuple[Requirement, ...]:
        met: list[Requirement] = []

        def requirement_met(requirement: Requirement) -> bool:
            # The same question `db-migrate` asks, put to this test's databases.
            other = self.shared(requirement.target)
            dependencies.setdefault(requirement.target, other.url)
            if requirement.migration_id not in applied_migration_ids(other.url):
                return False
            met.append(requirement)
            return True

        migrate(
            target,
            url,
            requirement_met=requirement_met,
            settings=self._settings,
            out=lambda _: None,
        )
        if seeded:
            seed(target, url)
        return tuple(met)

    def _copied(
        self, target: DatabaseTarget, seeded: bool, url: str, dependencies: dict[str, str]
    ) -> bool:
        """Make the database at `url` a copy of the target's template, if this test's databases
        meet the template's requirements and the copy can be made."""
        if self._templates is None:
            return False
        template = self._templates.template(
            target, seeded, lambda template_url: self._migrate(target, seeded, template_url, {})
        )
        needed = {requirement.target for requirement in template.requirements}
        applied = {name: set(applied_migration_ids(self.shared(name).url)) for name in needed}
        if any(r.migration_id not in applied[r.target] for r in template.requirements):
            return False  # migrating for real stops where db-migrate would, and says why
        try:
            self._templates.copy(template, url)
        except TemplateUnavailableError:
            return False
        for name in needed:
            dependencies.setdefault(name, self.shared(name).url)
        return True

    def shared(self, target: str) -> MigratedDatabase:
        """The test's one database of a registered target, made (migrated, not seeded: tests
        start from what the migrations make, without development users) on first use;
        dependents are migrated against it."""
        if target not in self._shared:
            self._shared[target] = self(target)
        return self._shared[target]


class AppDatabases(TypedDict):
    """An app's database fields of `AppSettings`, as `app_databases` fills them."""

    database_url: str
    shared_database_url: str
    shared_direct_url: str | None
    database: DatabaseSettings


def app_databases(
    route: DatabaseRoute, own: MigratedDatabase, database: DatabaseSettings
) -> AppDatabases:
    """The database fields of an app's settings for a test: its own database and the test's
    `atriz_shared` (the one `own` was migrated against) reached by `route` (the
    `database_route` fixture), and `database` marked pooled or not. Through PgBouncer the app
    also gets `atriz_shared` straight, for its `LISTEN`, as a pooled deployment does.

        return PshopSettings(..., **app_databases(database_route, own, DatabaseSettings(...)))
    """
    shared = own.core_url
    if shared is None:
        raise ValueError(f"{own.target.name} was not migrated against core's database")
    return AppDatabases(
        database_url=route.url(own.url),
        shared_database_url=route.url(shared),
        shared_direct_url=shared if route.pooled else None,
        database=route.settings(database),
    )
