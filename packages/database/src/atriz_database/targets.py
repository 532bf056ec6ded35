"""Database targets: what each package registers so the `db-*` commands can manage its database.

A package declares its target in its own `pyproject.toml`:

    [project.entry-points."atriz.databases"]
    core = "atriz_core.db:target"

so adding an app never means editing this toolkit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path

from atriz_database.errors import ConfigurationError, UnknownTargetError

__all__ = ["ALL", "ENTRY_POINT_GROUP", "DatabaseTarget", "Reference", "TargetRegistry"]

ENTRY_POINT_GROUP = "atriz.databases"
ALL = "all"


@dataclass(frozen=True)
class Reference:
    """A column holding ids of rows in another target's database. No foreign key can span two
    databases, so the application checks these on write and `db-check-refs` checks them after."""

    column: str
    """`table.column` (or `schema.table.column`) in this target's database: `sales.cashier_id`."""
    target: str
    """The target whose database holds the referenced rows: `core`."""
    referenced: str
    """`table.column` there: `users.id`."""
    live_when: str | None = None
    """A fixed SQL condition on the referenced row without which it counts as gone although it
    is still there (`deleted_at IS NULL`: a soft-deleted user). Written by the package, never
    taken from input."""
    kept_in: str | None = None
    """`table.column` in this target's database listing ids known to be gone whose rows the app
    keeps on purpose (a removed cashier's sales, kept as history): not reported."""


@dataclass(frozen=True)
class DatabaseTarget:
    """One database and the schema a package keeps in it."""

    name: str
    """Short name used on the command line (`core`, `pshop`)."""
    database: str
    """PostgreSQL database name (`atriz_shared`)."""
    url_env: str
    """Environment variable that may hold this database's full URL (`SHARED_DATABASE_URL`)."""
    migrations: Path
    """Folder of `*.sql` migrations with their `*.rollback.sql` files."""
    seeds: Path
    """Folder of `*.sql` seed files, run in name order."""
    depends_on: tuple[str, ...] = field(default=())
    """Targets whose migrations must run first (apps depend on `core`)."""
    references: tuple[Reference, ...] = field(default=())
    """Columns that point into other targets' databases (an app's `user_id` columns)."""
    kept_by_clean: tuple[str, ...] = field(default=())
    """Tables whose rows the migrations write, which `db-clean` keeps (core's built-in roles:
    without them no account gets its `user` role and no administrator can be made)."""
    after_restore: str | None = None
    """SQL that `db-restore` runs in the restored database before it takes the target's name
    (core renumbers the user events of another server: `atriz_core.client.user_events`)."""
    repair: str | None = None
    """`module:function` that `db-check-refs --fix` calls as `function(url, ids)` with this
    target's database URL and the ids its references hold that point to no live row: the app's
    own policy for a vanished user, the one its event consumer applies (see
    `atriz_core.kit.references`). Imported only when a repair runs."""

    @property
    def direct_url_env(self) -> str:
        """The variable that may hold a URL straight to PostgreSQL for this database, for what
        needs a session of its own when `url_env`'s leads to PgBouncer: `SHARED_DIRECT_URL`."""
        return f"{self.url_env.removesuffix('_DATABASE_URL')}_DIRECT_URL"


class TargetRegistry:
    """The known targets, in an order where every target follows the ones it depends on."""

    def __init__(self, targets: list[DatabaseTarget]) -> None:
        self._by_name = {t.name: t for t in targets}
        self._ordered = self._dependency_order(targets)

    @classmethod
    def from_entry_points(cls) -> TargetRegistry:
        """Every target registered by an installed package."""
        targets = []
        for entry_point in entry_points(group=ENTRY_POINT_GROUP):
            target = entry_point.load()
            if not isinstance(target, DatabaseTarget):
                raise ConfigurationError(f"entry point {entry_point.value} is not a DatabaseTarget")
            targets.append(target)
        return cls(targets)

    def _dependency_order(self, targets: list[DatabaseTarget]) -> list[DatabaseTarget]:
        ordered: list[DatabaseTarget] = []
        visiting: set[str] = set()

        def visit(target: DatabaseTarget) -> None:
            if target in ordered:
                return
            if target.name in visiting:
                raise ConfigurationError(
                    f"targets depend on each other in a cycle at {target.name}"
                )
            visiting.add(target.name)
            for name in target.depends_on:
                if name not in self._by_name:
                    raise ConfigurationError(f"target {target.name} depends on unknown {name}")
                visit(self._by_name[name])
            visiting.discard(target.name)
            ordered.append(target)

        for target in sorted(targets, key=lambda t: t.name):
            visit(target)
        return ordered

    @property
    def names(self) -> list[str]:
        return [t.name for t in self._ordered]

    def get(self, name: str) -> DatabaseTarget:
        try:
            return self._by_name[name]
        except KeyError:
            known = ", ".join([*self.names, ALL])
            raise UnknownTargetError(f"unknown target {name!r} (known: {known})") from None

    def select(self, name: str) -> list[DatabaseTarget]:
        """One target, or every target in dependency order for `all`."""
        if name == ALL:
            return list(self._ordered)
        return [self.get(name)]
