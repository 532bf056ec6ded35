"""Restores: a `pg_dump` archive into a target's database, never leaving it half restored.

The order of work is what keeps the target safe:

1. the dump's SHA-256 is checked against its checksum file, and `pg_restore --list` reads the
   archive; either failing stops everything before the server is touched;
2. refusals: a target database holding rows needs `force`, and in production every restore does;
3. the dump is restored into a new database, `<db>_restore_<stamp>`, created as the dump records
   it (encoding, locale); the database-level settings, comment, owner and grants recorded in the
   dump (a database's `GRANT CONNECT`, core's `REVOKE ... FROM PUBLIC`) are applied to it, since
   `pg_restore` writes those only when it creates the database under its own name;
4. the migrations recorded in it are compared with the target's migration files: a dump holding
   migrations this code does not have is refused;
5. the names are swapped in one transaction: the old database becomes `<db>_replaced_<stamp>`
   (kept for the operator to inspect and drop, unless asked to drop it), the new one takes the
   name. Sessions on the old database are ended first, and new ones refused meanwhile.

Any failure before the swap drops the new database; the target is as it was.

Ownership and object grants are restored as the dump records them, so the roles it names
(the owner, `atriz_app_reader`) must exist on the server: they do on the server the dump came
from. Roles are cluster-wide and in no database's dump; on a new server, create them first
(`pg_dumpall --roles-only` from the old one), or pass `no_owner`/`no_acl` and grant again.
"""

from __future__ import annotations

import hmac
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from atriz_database.backup import file_sha256, read_checksum
from atriz_database.connections import connect, database_exists, drop_database
from atriz_database.errors import BackupError, DatabaseToolError, RefusedError
from atriz_database.migrations import BOOKKEEPING_TABLES, status
from atriz_database.pgtools import (
    ClientProgram,
    find_program,
    last_error_line,
    program_env,
    server_version,
)
from atriz_database.settings import Environment, current_environment
from atriz_database.targets import DatabaseTarget
from atriz_database.urls import describe_url, maintenance_url, with_database

__all__ = ["Restored", "database_holds_data", "restore_database", "verify_dump"]

Output = Callable[[str], None]
NAME_LIMIT = 63  # PostgreSQL's NAMEDATALEN - 1
_DATABASE_ENTRY = re.compile(
    r"^\d+;\s+\d+\s+\d+\s+(DATABASE( PROPERTIES)? - |(ACL|COMMENT|SECURITY LABEL) - DATABASE )"
)
_DATABASE_STATEMENTS = (
    "CREATE DATABASE",
    "ALTER DATABASE",
    "COMMENT ON DATABASE",
    "GRANT",
    "REVOKE",
    "ALTER ROLE",
    "SECURITY LABEL",
)


@dataclass(frozen=True)
class Restored:
    """What a restore did."""

    target: str
    database: str
    replaced: str | None
    """The previous database's new name, when it was kept; None when there was none or it was
    dropped."""
    dropped_previous: bool
    migrations: list[str]
    """The migration ids recorded in the dump."""
    seconds: float


def verify_dump(dump: Path) -> None:
    """Check the dump's SHA-256 against `<dump>.sha256`; `BackupError` in one line if not."""
    if not dump.is_file():
        raise BackupError(f"{dump}: no such file")
    expected = read_checksum(dump)
    actual = file_sha256(dump)
    if not hmac.compare_digest(actual, expected):
        raise BackupError(
            f"{dump}: checksum mismatch (file {actual[:12]}..., {dump.name}.sha256"
            f" {expected[:12]}...): the file is damaged or incomplete"
        )


def database_holds_data(url: str) -> bool:
    """Whether any table of the database at `url`, other than migration bookkeeping, has a row.

    A database that does not exist holds nothing.
    """
    if not database_exists(url):
        return False
    with connect(url) as connection:
        tables = connection.execute(
            "SELECT n.nspname, c.relname FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind IN ('r', 'p')"
            " AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
            " AND n.nspname NOT LIKE 'pg\\_toast%%' AND NOT c.relispartition"
            " AND NOT (n.nspname = 'public' AND c.relname = ANY(%s))",
            (sorted(BOOKKEEPING_TABLES),),
        ).fetchall()
        for schema, table in tables:
            query = sql.SQL("SELECT EXISTS (SELECT FROM {})").format(sql.Identifier(schema, table))
            row = connection.execute(query).fetchone()
            if row and row[0]:
                return True
    return False


def _name_with_suffix(database: str, suffix: str) -> str:
    room = NAME_LIMIT - len(suffix.encode())
    trimmed = database.encode()[:room].decode(errors="ignore")
    return trimmed + suffix


def _free_names(url: str, database: str) -> tuple[str, str]:
    """`<db>_restore_<stamp>` and `<db>_replaced_<stamp>`, neither in use on the server."""
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    with connect(maintenance_url(url), on_behalf_of=url) as connection:
        taken = {str(r[0]) for r in connection.execute("SELECT datname FROM pg_database")}
    for number in range(1, 1000):
        tail = stamp if number == 1 else f"{stamp}_{number}"
        names = (
            _name_with_suffix(database, f"_restore_{tail}"),
            _name_with_suffix(database, f"_replaced_{tail}"),
        )
        if not taken.intersection(names):
            return names
    raise BackupError(f"no free name for the restore of {database}: drop old *_replaced_* ones")


def _run(program: ClientProgram, args: list[str], env: dict[str, str] | None = None) -> str:
    result = subprocess.run(  # noqa: S603 - a PostgreSQL program, arguments built here
        [str(program.path), *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if result.returncode != 0:
        raise BackupError(last_error_line(result.stderr, program.path.name))
    return result.stdout


def _read_archive(pg_restore: ClientProgram, dump: Path) -> str:
    """The dump's table of contents, including its database entries; `BackupError` if unreadable."""
    try:
        return _run(pg_restore, ["--create", "--list", str(dump)])
    except BackupError as exc:
        raise BackupError(f"{dump}: not a readable pg_dump archive: {exc}") from None


def _dumped_database_name(listing: str) -> str:
    match = re.search(r"^;\s+dbname:\s+(.+)$", listing, re.MULTILINE)
    if match is None:
        raise BackupError("the dump does not record its database name")
    return match[1].strip()


def _statements(script: str) -> list[str]:
    """The SQL statements of a `pg_restore` script, without psql's meta-commands."""
    statements, current = [], ""
    for line in script.splitlines():
        if not current and (not line.strip() or line.startswith(("--", "\\"))):
            continue
        current = f"{current}\n{line}" if current else line
        if current.rstrip().endswith(";") and current.count("'") % 2 == 0:
            statements.append(current.strip())
            current = ""
    return statements


def _database_statements(
    pg_restore: ClientProgram, dump: Path, listing: str, new_name: str, options: list[str]
) -> tuple[str, list[str]]:
    """The dump's CREATE DATABASE and its database-level statements, aimed at `new_name`."""
    old = _dumped_database_name(listing)
    names = [re.escape('"' + old.replace('"', '""') + '"')]
    if re.fullmatch(r"[a-z_][a-z0-9_$]*", old):
        names.append(re.escape(old))
    pattern = re.compile(rf"(DATABASE\s+)(?:{'|'.join(names)})(?=[\s;])")
    entries = "\n".join(line for line in listing.splitlines() if _DATABASE_ENTRY.match(line))
    list_file = dump.with_name(f".{dump.name}.{time.monotonic_ns()}.list")
    try:
        list_file.write_text(entries + "\n", encoding="utf-8")
        script = _run(
            pg_restore, ["--create", *options, f"--use-list={list_file}", "-f", "-", str(dump)]
        )
    finally:
        list_file.unlink(missing_ok=True)
    create = sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(new_name))
    create_text = create.as_string()
    statements = []
    quoted = sql.Identifier(new_name).as_string()
    for statement in _statements(script):
        if not statement.startswith(_DATABASE_STATEMENTS):
            continue
        aimed, count = pattern.subn(lambda m: m[1] + quoted.replace("\\", "\\\\"), statement)
        if count == 0:
            raise BackupError(f"unexpected database statement in the dump: {statement[:80]!r}")
        if aimed.startswith("CREATE DATABASE"):
            create_text = aimed
        else:
            statements.append(aimed)
    return create_text, statements


def _ended_sessions(connection: psycopg.Connection[Any], names: list[str]) -> None:
    """End every session on the named databases and wait until they are gone (up to 10 s)."""
    deadline = time.monotonic() + 10
    while True:
        row = connection.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = ANY(%s) AND pid <> pg_backend_pid()",
            (names,),
        ).fetchone()
        if not (row and row[0]) or time.monotonic() > deadline:
            return
        time.sleep(0.1)


def _swap(url: str, database: str, new: str, replaced: str) -> bool:
    """Give `new` the name `database`; the old one becomes `replaced`. True if there was one."""
    ident = sql.Identifier
    with connect(maintenance_url(url), on_behalf_of=url) as connection:
        existed = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (database,)
        ).fetchone()
        if existed is None:
            connection.execute(
                sql.SQL("ALTER DATABASE {} RENAME TO {}").format(ident(new), ident(database))
            )
            return False
        block = sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS {}")
        connection.execute(block.format(ident(database), sql.Literal(False)))
        try:
            for attempt in range(5):
                _ended_sessions(connection, [database, new])
                try:
                    with connection.transaction():
                        connection.execute(
                            sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                                ident(database), ident(replaced)
                            )
                        )
                        connection.execute(
                            sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                                ident(new), ident(database)
                            )
                        )
                    break
                except psycopg.errors.ObjectInUse:
                    # A session (autovacuum, a client that connected just before) got in between.
                    if attempt == 4:
                        raise
        except BaseException:
            connection.execute(block.format(ident(database), sql.Literal(True)))
            raise
        connection.execute(block.format(ident(replaced), sql.Literal(True)))
    return True


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def restore_database(
    target: DatabaseTarget,
    url: str,
    dump: Path,
    *,
    force: bool = False,
    drop_previous: bool = False,
    no_owner: bool = False,
    no_acl: bool = False,
    out: Output = print,
) -> Restored:
    """Restore `dump` into the target's database at `url` (see the module's docstring)."""
    started = time.monotonic()
    verify_dump(dump)
    server = server_version(maintenance_url(url))
    pg_restore = find_program("pg_restore", server)
    listing = _read_archive(pg_restore, dump)
    database = str(psycopg.conninfo.conninfo_to_dict(url).get("dbname"))
    where = f"{target.name} ({describe_url(url)})"
    if current_environment() is Environment.PRODUCTION and not force:
        raise RefusedError(f"{where}: a restore replaces the database; in production pass --force")
    if not force and database_holds_data(url):
        raise RefusedError(f"{where}: the database holds data; pass --force to replace it")

    new, replaced = _free_names(url, database)
    options = [*(["--no-owner"] if no_owner else []), *(["--no-acl"] if no_acl else [])]
    create, statements = _database_statements(pg_restore, dump, listing, new, options)
    new_url = with_database(url, new)
    untouched = f"{database} is as it was"
    try:
        with connect(maintenance_url(url), on_behalf_of=url) as connection:
            connection.execute(create)
    except psycopg.Error as exc:
        raise BackupError(f"{where}: could not create {new}: {_reason(exc)}; {untouched}") from None
    try:
        out(f"{where}: restoring {dump.name} into {new}")
        dbname, env = program_env(new_url)
        try:
            _run(pg_restore, ["--exit-on-error", *options, f"--dbname={dbname}", str(dump)], env)
        except BackupError as exc:
            raise BackupError(f"{where}: pg_restore failed: {exc}; {untouched}") from None
        try:
            with connect(maintenance_url(url), on_behalf_of=url) as connection:
                for statement in statements:
                    connection.execute(statement.encode())
        except psycopg.Error as exc:
            raise BackupError(
                f"{where}: the dump's database settings and grants failed: {_reason(exc)};"
                f" {untouched}"
            ) from None
        recorded = status(target, new_url)
        if len(recorded.missing) == len(recorded.applied):  # none of ours, or none at all
            found = f" ({recorded.applied[0]}, ...)" if recorded.applied else ""
            raise BackupError(
                f"{where}: the dump records none of {target.name}'s migrations{found}: it is a"
                f" dump of another database. {untouched}"
            )
        if recorded.missing:
            raise BackupError(
                f"{where}: dump is from a newer migration set: it records"
                f" {len(recorded.missing)} migration(s) this code does not have"
                f" ({', '.join(recorded.missing[:3])}); restore it with the code that made it."
                f" {untouched}"
            )
        if target.after_restore:
            try:
                with connect(new_url) as connection:
                    connection.execute(target.after_restore.encode())
            except psycopg.Error as exc:
                raise BackupError(
                    f"{where}: the target's after-restore step failed: {_reason(exc)}; {untouched}"
                ) from None
        try:
            had_previous = _swap(url, database, new, replaced)
        except psycopg.Error as exc:
            raise BackupError(
                f"{where}: could not swap {new} in: {_reason(exc)}; {untouched}"
            ) from None
    except BaseException:
        drop_database(new_url)
        raise
    if had_previous and drop_previous:
        try:
            drop_database(with_database(url, replaced))
        except (psycopg.Error, DatabaseToolError) as exc:
            raise BackupError(
                f"{where}: restored, but the previous database {replaced} could not be"
                f" dropped: {_reason(exc)}"
            ) from None
    return Restored(
        target=target.name,
        database=database,
        replaced=replaced if had_previous and not drop_previous else None,
        dropped_previous=had_previous and drop_previous,
        migrations=recorded.applied,
        seconds=time.monotonic() - started,
    )
