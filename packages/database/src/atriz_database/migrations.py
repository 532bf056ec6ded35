"""The migration runner: yoyo-migrations' files and bookkeeping, with Atriz's safety rules.

yoyo reads the migration folder (ids, `-- depends:`, rollback files) and owns the bookkeeping
tables, so the files and the database stay usable by the stock `yoyo` CLI. This module adds:

- a PostgreSQL advisory lock held for the whole run. yoyo's own lock is a row that a second
  migrator gives up on after 10 s and that outlives a killed process; an advisory lock waits
  instead, and dies with the session;
- one transaction for a migration's statements *and* its bookkeeping row, so a migration is either
  applied and recorded or neither (yoyo records it in a second transaction);
- `lock_timeout` on the session, so a migration waiting for a busy table fails after a few seconds
  instead of queueing every live query behind it;
- a checksum of each applied file, so `db-status` reports drift;
- `-- requires: TARGET MIGRATION_ID` lines, so an app migration waits for the core migration it
  needs.
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from yoyo import get_backend, read_migrations
from yoyo.migrations import read_sql_migration

from atriz_database.connections import connect, connection_failure
from atriz_database.errors import MigrationError
from atriz_database.settings import DatabaseSettings
from atriz_database.targets import DatabaseTarget
from atriz_database.urls import describe_url, yoyo_url

__all__ = [
    "BOOKKEEPING_TABLES",
    "MigrationStatus",
    "Requirement",
    "applied_migration_ids",
    "migrate",
    "new_migration",
    "rollback",
    "status",
]

# Any fixed number works: advisory locks are per database, and only migrators take this one.
MIGRATION_LOCK_KEY = 0x61747269_7A6D6967  # "atrizmig"
CHECKSUM_TABLE = "atriz_migration_checksums"
BOOKKEEPING_TABLES = frozenset(
    {"_yoyo_migration", "_yoyo_log", "_yoyo_version", "yoyo_lock", CHECKSUM_TABLE}
)
_REQUIRES = re.compile(r"^\s*--\s*requires\s*:\s*(\S+)\s+(\S+)\s*$")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

Output = Callable[[str], None]
RequirementCheck = Callable[["Requirement"], bool]


@dataclass(frozen=True)
class Requirement:
    """A migration of another target that must be applied first (`-- requires: core ID`)."""

    target: str
    migration_id: str


@dataclass(frozen=True)
class MigrationStatus:
    """What `db-status` reports for one database."""

    applied: list[str]
    pending: list[str]
    drifted: list[str]
    """Applied migrations whose file changed since they were applied."""
    missing: list[str]
    """Applied migrations whose file is gone."""


@dataclass(frozen=True)
class _Migration:
    id: str
    path: Path
    transactional: bool
    yoyo: Any

    @property
    def rollback_path(self) -> Path:
        return self.path.with_name(f"{self.id}.rollback.sql")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()

    def statements(self, path: Path | None = None) -> list[str]:
        _, _, statements = read_sql_migration(str(path or self.path))
        return [str(s) for s in statements]

    def requirements(self) -> list[Requirement]:
        found = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.lstrip().startswith("--"):
                break  # directives live in the leading comment block, as yoyo's do
            match = _REQUIRES.match(line)
            if match:
                found.append(Requirement(match[1], match[2]))
        return found


def _load(target: DatabaseTarget) -> list[_Migration]:
    if not target.migrations.is_dir():
        raise MigrationError(f"{target.name}: migrations folder {target.migrations} does not exist")
    loaded = []
    for migration in read_migrations(str(target.migrations)):
        path = Path(migration.path)
        if path.suffix != ".sql":
            raise MigrationError(f"{path.name}: only .sql migrations are supported")
        migration.load()
        loaded.append(_Migration(migration.id, path, bool(migration.use_transactions), migration))
    return loaded


_LOCK_HOLDER = """
SELECT a.pid, a.usename, a.application_name, a.backend_start
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.database = (
        SELECT oid FROM pg_database WHERE datname = current_database()
    )
    AND l.classid = (%(key)s >> 32)::oid AND l.objid = (%(key)s & 4294967295)::oid
    AND l.objsubid = 1
"""


def _lock_holder(url: str) -> str:
    """Who holds the migration lock of the database at `url`, for a message."""
    with connect(url) as connection:
        row = connection.execute(_LOCK_HOLDER, {"key": MIGRATION_LOCK_KEY}).fetchone()
    if row is None:
        return "a session gone meanwhile"
    pid, user, application, started = row
    return (
        f"server process {pid} (login {user}, application {application or 'unnamed'!r},"
        f" connected {started:%Y-%m-%d %H:%M:%S %Z})"
    )


@contextmanager
def _locked_session(url: str, settings: DatabaseSettings, out: Output) -> Iterator[Any]:
    """A yoyo backend whose connection holds the migration lock for the whole block."""
    try:
        backend = get_backend(yoyo_url(url))
    except psycopg.OperationalError as exc:
        raise connection_failure(url, exc) from exc
    connection: psycopg.Connection[Any] = backend.connection
    try:
        connection.execute(
            "SELECT set_config('lock_timeout', %s, false)", (settings.migration_lock_timeout,)
        )
        # The services' statement timeout may be this login's default in the database (set
        # there when they go through PgBouncer): a migration may run long, and its lock waits
        # are what must stay short.
        connection.execute("SELECT set_config('statement_timeout', '0', false)")
        # A killed migrator's server session notices within a second, even mid-statement, and
        # releases its locks instead of running its migration to the end for nobody.
        connection.execute("SELECT set_config('client_connection_check_interval', '1s', false)")
        locked = connection.execute(
            "SELECT pg_try_advisory_lock(%s)", (MIGRATION_LOCK_KEY,)
        ).fetchone()
        if not (locked and locked[0]):
            out(f"waiting for another migrator on {describe_url(url)} to finish")
            # lock_timeout applies to advisory locks too: it bounds this wait.
            wait = f"{round(settings.migration_wait * 1000)}ms"
            connection.execute("SELECT set_config('lock_timeout', %s, false)", (wait,))
            try:
                connection.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
            except psycopg.errors.LockNotAvailable:
                raise MigrationError(
                    f"{describe_url(url)}: the migration lock is still held after"
                    f" {settings.migration_wait:g} s, by {_lock_holder(url)}: a migrator that"
                    " has not finished, or another session that took the lock; end it"
                    " (pg_terminate_backend), or wait longer with ATRIZ_MIGRATION_WAIT"
                ) from None
            connection.execute(
                "SELECT set_config('lock_timeout', %s, false)", (settings.migration_lock_timeout,)
            )
        backend.ensure_internal_schema_updated()
        connection.execute(
            f"CREATE TABLE IF NOT EXISTS {CHECKSUM_TABLE} ("
            " migration_id text PRIMARY KEY,"
            " checksum text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        yield backend
    finally:
        connection.close()  # ends the session, and with it the advisory lock


def _applied_ids(connection: psycopg.Connection[Any]) -> list[str]:
    exists = connection.execute("SELECT to_regclass('_yoyo_migration') IS NOT NULL").fetchone()
    if not (exists and exists[0]):
        return []
    rows = connection.execute(
        "SELECT migration_id FROM _yoyo_migration ORDER BY applied_at_utc, migration_id"
    ).fetchall()
    return [str(row[0]) for row in rows]


def applied_migration_ids(url: str) -> list[str]:
    """The ids of the migrations applied to the database at `url`, oldest first."""
    with connect(url) as connection:
        return _applied_ids(connection)


def _run_statements(connection: psycopg.Connection[Any], migration: _Migration, path: Path) -> None:
    for number, statement in enumerate(migration.statements(path), start=1):
        try:
            connection.execute(statement.encode())
        except psycopg.Error as exc:
            first_line = statement.strip().splitlines()[0][:80]
            reason = (exc.diag.message_primary or str(exc)).strip()
            outcome = "; nothing of it was applied" if migration.transactional else ""
            raise MigrationError(
                f"{path.name}: statement {number} ({first_line!r}) failed: {reason}{outcome}"
            ) from exc


def _apply_one(backend: Any, migration: _Migration) -> None:
    connection: psycopg.Connection[Any] = backend.connection
    if migration.transactional:
        with connection.transaction():
            _run_statements(connection, migration, migration.path)
            _record_applied(backend, migration)
        return
    # `-- transactional: false` (e.g. CREATE INDEX CONCURRENTLY) cannot be atomic by nature:
    # such a migration should hold a single statement.
    _run_statements(connection, migration, migration.path)
    with connection.transaction():
        _record_applied(backend, migration)


def _record_applied(backend: Any, migration: _Migration) -> None:
    backend.mark_one(migration.yoyo, log=False)
    backend.log_migration(migration.yoyo, "apply")
    backend.connection.execute(
        f"INSERT INTO {CHECKSUM_TABLE} (migration_id, checksum) VALUES (%s, %s)"
        " ON CONFLICT (migration_id) DO UPDATE SET checksum = EXCLUDED.checksum,"
        " applied_at = now()",
        (migration.id, migration.checksum),
    )


def migrate(
    target: DatabaseTarget,
    url: str,
    *,
    requirement_met: RequirementCheck,
    dry_run: bool = False,
    settings: DatabaseSettings | None = None,
    out: Output = print,
) -> list[str]:
    """Apply the target's pending migrations in order; return the ids applied (or, dry, pending).

    Each migration applies whole or not at all. A migration whose `-- requires:` line names a
    migration not yet applied to another target stops the run before it, with a clear message.
    """
    settings = settings or DatabaseSettings.from_env()
    migrations = _load(target)
    where = f"{target.name} ({describe_url(url)})"
    with _locked_session(url, settings, out) as backend:
        applied = set(_applied_ids(backend.connection))
        pending = [m for m in migrations if m.id not in applied]
        _warn_about_drift(backend.connection, migrations, applied, where)
        if not pending:
            out(f"{where}: up to date, {len(applied)} migration(s) applied")
            return []
        if dry_run:
            for migration in pending:
                out(f"{where}: would apply {migration.id}")
            return [m.id for m in pending]
        done = []
        for migration in pending:
            for requirement in migration.requirements():
                if not requirement_met(requirement):
                    raise MigrationError(
                        f"{migration.id} requires {requirement.target} migration"
                        f" {requirement.migration_id}, which is not applied yet;"
                        f" run `uv run db-migrate {requirement.target}` first"
                    )
            _apply_one(backend, migration)
            out(f"{where}: applied {migration.id}")
            done.append(migration.id)
        return done


def _checksums(connection: psycopg.Connection[Any]) -> dict[str, str]:
    exists = connection.execute("SELECT to_regclass(%s) IS NOT NULL", (CHECKSUM_TABLE,)).fetchone()
    if not (exists and exists[0]):
        return {}
    rows = connection.execute(f"SELECT migration_id, checksum FROM {CHECKSUM_TABLE}").fetchall()
    return {str(row[0]): str(row[1]) for row in rows}


def _drifted(
    connection: psycopg.Connection[Any], migrations: list[_Migration], applied: set[str]
) -> list[str]:
    recorded = _checksums(connection)
    return [
        m.id
        for m in migrations
        if m.id in applied and m.id in recorded and recorded[m.id] != m.checksum
    ]


def _warn_about_drift(
    connection: psycopg.Connection[Any], migrations: list[_Migration], applied: set[str], where: str
) -> None:
    for migration_id in _drifted(connection, migrations, applied):
        print(
            f"warning: {where}: {migration_id} changed after it was applied (see db-status)",
            file=sys.stderr,
        )


def status(target: DatabaseTarget, url: str) -> MigrationStatus:
    """Applied, pending, drifted and missing migrations, read without changing the database."""
    migrations = _load(target)
    with connect(url) as connection:
        applied_ids = _applied_ids(connection)
        applied = set(applied_ids)
        drifted = _drifted(connection, migrations, applied)
    on_disk = {m.id for m in migrations}
    return MigrationStatus(
        applied=applied_ids,
        pending=[m.id for m in migrations if m.id not in applied],
        drifted=drifted,
        missing=[i for i in applied_ids if i not in on_disk],
    )


def rollback(
    target: DatabaseTarget,
    url: str,
    *,
    count: int = 1,
    settings: DatabaseSettings | None = None,
    out: Output = print,
) -> list[str]:
    """Roll back the `count` most recently applied migrations, newest first; return their ids."""
    if count < 1:
        raise MigrationError("--count must be at least 1")
    settings = settings or DatabaseSettings.from_env()
    by_id = {m.id: m for m in _load(target)}
    where = f"{target.name} ({describe_url(url)})"
    with _locked_session(url, settings, out) as backend:
        connection: psycopg.Connection[Any] = backend.connection
        newest_first = list(reversed(_applied_ids(connection)))[:count]
        if not newest_first:
            out(f"{where}: nothing to roll back")
            return []
        for migration_id in newest_first:
            migration = by_id.get(migration_id)
            if migration is None:
                raise MigrationError(f"{migration_id} is applied but its file is missing")
            if not migration.rollback_path.is_file():
                raise MigrationError(f"{migration_id} has no rollback file")
            with connection.transaction():
                _run_statements(connection, migration, migration.rollback_path)
                backend.unmark_one(migration.yoyo, log=False)
                backend.log_migration(migration.yoyo, "rollback")
                connection.execute(
                    f"DELETE FROM {CHECKSUM_TABLE} WHERE migration_id = %s", (migration_id,)
                )
            out(f"{where}: rolled back {migration_id}")
        return newest_first


def new_migration(target: DatabaseTarget, name: str, now: datetime | None = None) -> list[Path]:
    """Create `<timestamp>_<name>.sql` and its `.rollback.sql` in the target's migrations folder."""
    if not _NAME.match(name):
        raise MigrationError(
            f"migration name {name!r} must be lower-case words joined by underscores,"
            " e.g. create_vehicles"
        )
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d_%H%M%S")
    migration_id = f"{stamp}_{name}"
    apply_path = target.migrations / f"{migration_id}.sql"
    rollback_path = target.migrations / f"{migration_id}.rollback.sql"
    if apply_path.exists() or rollback_path.exists():
        raise MigrationError(f"{apply_path} already exists")
    target.migrations.mkdir(parents=True, exist_ok=True)
    apply_path.write_text(f"-- {name.replace('_', ' ').capitalize()}.\n\n", encoding="utf-8")
    rollback_path.write_text(f"-- Undoes {migration_id}.\n\n", encoding="utf-8")
    return [apply_path, rollback_path]
