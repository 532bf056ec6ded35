"""Database health: what `db-status --health` reports for each target's database.

Everything here reads PostgreSQL's statistics views and changes nothing. The longest-running
transaction is looked for on the whole server, not just one database: apps read `user_events` only
up to the oldest transaction running anywhere on the server, so a forgotten one in any database
holds every app's event reader back.

The slowest statements come from `pg_stat_statements`, which must be loaded at server start
(`shared_preload_libraries`) and created with `CREATE EXTENSION` in some database: in the target's
own, or else in the `postgres` database (which the embedded server does), where the view is read
for the target's database only. Without it the report says why, and the rest still stands.
"""

from __future__ import annotations

from typing import Any

import msgspec
import psycopg
from psycopg.conninfo import conninfo_to_dict

from atriz_database.backup import human_size
from atriz_database.connections import connect
from atriz_database.errors import DatabaseToolError
from atriz_database.targets import DatabaseTarget
from atriz_database.urls import describe_url, maintenance_url

__all__ = [
    "DatabaseHealth",
    "SlowStatement",
    "TableHealth",
    "Transaction",
    "check_health",
    "format_health",
]

LARGEST_TABLES = 5
SLOWEST_STATEMENTS = 5
QUERY_CHARACTERS = 160


class Transaction(msgspec.Struct, frozen=True):
    """The oldest open transaction on the server."""

    pid: int
    database: str | None
    user: str | None
    state: str | None
    seconds: float
    query: str


class TableHealth(msgspec.Struct, frozen=True):
    """One of the largest tables, and how much of it is dead rows waiting for vacuum."""

    table: str
    bytes: int
    live_rows: int
    dead_rows: int
    dead_ratio: float | None
    last_autovacuum: str | None


class SlowStatement(msgspec.Struct, frozen=True):
    """A statement shape from `pg_stat_statements`, by mean execution time."""

    query: str
    calls: int
    mean_ms: float
    total_ms: float


class DatabaseHealth(msgspec.Struct, frozen=True):
    """The health of one target's database."""

    target: str
    database: str
    where: str
    reachable: bool
    error: str | None = None
    """Why the database is unreachable, or why the health queries failed on it."""
    server_version: str | None = None
    bytes: int | None = None
    connections: dict[str, int] = msgspec.field(default_factory=dict)
    longest_transaction: Transaction | None = None
    cache_hit_ratio: float | None = None
    largest_tables: list[TableHealth] = msgspec.field(default_factory=list)
    slowest_statements: list[SlowStatement] | None = None
    statements_unavailable: str | None = None
    """Why `slowest_statements` is missing, when it is."""


def _short(query: str | None) -> str:
    text = " ".join((query or "").split())
    return text if len(text) <= QUERY_CHARACTERS else text[: QUERY_CHARACTERS - 3] + "..."


def _connections(connection: psycopg.Connection[Any]) -> dict[str, int]:
    rows = connection.execute(
        "SELECT coalesce(state, 'unknown'), count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND backend_type = 'client backend'"
        " AND pid <> pg_backend_pid() GROUP BY 1 ORDER BY 1"
    ).fetchall()
    return {str(state): int(count) for state, count in rows}


def _longest_transaction(connection: psycopg.Connection[Any]) -> Transaction | None:
    row = connection.execute(
        "SELECT pid, datname, usename, state, extract(epoch FROM now() - xact_start)::float8, query"
        " FROM pg_stat_activity"
        " WHERE xact_start IS NOT NULL AND pid <> pg_backend_pid()"
        " AND backend_type = 'client backend'"
        " ORDER BY xact_start LIMIT 1"
    ).fetchone()
    if row is None:
        return None
    pid, database, user, state, seconds, query = row
    return Transaction(int(pid), database, user, state, round(float(seconds), 3), _short(query))


def _cache_hit_ratio(connection: psycopg.Connection[Any]) -> float | None:
    row = connection.execute(
        "SELECT blks_hit, blks_read FROM pg_stat_database WHERE datname = current_database()"
    ).fetchone()
    if row is None or not (row[0] or row[1]):
        return None
    hit, read = int(row[0]), int(row[1])
    return round(hit / (hit + read), 4)


def _largest_tables(connection: psycopg.Connection[Any]) -> list[TableHealth]:
    rows = connection.execute(
        "SELECT schemaname, relname, pg_total_relation_size(relid), n_live_tup, n_dead_tup,"
        " last_autovacuum FROM pg_stat_user_tables"
        " ORDER BY pg_total_relation_size(relid) DESC, relname LIMIT %s",
        (LARGEST_TABLES,),
    ).fetchall()
    tables = []
    for schema, name, size, live, dead, vacuumed in rows:
        total = int(live) + int(dead)
        ratio = round(int(dead) / total, 4) if total else None
        label = name if schema == "public" else f"{schema}.{name}"
        when = vacuumed.isoformat() if vacuumed else None
        tables.append(TableHealth(label, int(size), int(live), int(dead), ratio, when))
    return tables


_STATEMENTS_SQL = (
    "SELECT query, calls, {mean}, {total} FROM pg_stat_statements"
    " WHERE dbid = (SELECT oid FROM pg_database WHERE datname = %s) AND calls > 0"
    " ORDER BY {mean} DESC LIMIT %s"
)


def _read_statements(
    connection: psycopg.Connection[Any], database: str
) -> list[SlowStatement] | None:
    """The slowest statements, or None when the view is not in this database."""
    row = connection.execute("SELECT to_regclass('pg_stat_statements') IS NOT NULL").fetchone()
    if not (row and row[0]):
        return None
    columns = {
        str(r[0])
        for r in connection.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = 'pg_stat_statements'::regclass"
        ).fetchall()
    }
    # PostgreSQL 13 renamed mean_time/total_time to mean_exec_time/total_exec_time.
    if "mean_exec_time" in columns:
        query = _STATEMENTS_SQL.format(mean="mean_exec_time", total="total_exec_time")
    else:
        query = _STATEMENTS_SQL.format(mean="mean_time", total="total_time")
    rows = connection.execute(query, (database, SLOWEST_STATEMENTS)).fetchall()
    return [
        SlowStatement(_short(text), int(calls), round(float(mean), 3), round(float(total), 3))
        for text, calls, mean, total in rows
    ]


def _statements(
    connection: psycopg.Connection[Any], url: str, database: str
) -> tuple[list[SlowStatement] | None, str | None]:
    row = connection.execute("SELECT current_setting('shared_preload_libraries')").fetchone()
    preloaded = "pg_stat_statements" in str(row[0] if row else "")
    if not preloaded:
        return None, "pg_stat_statements is not in the server's shared_preload_libraries"
    try:
        found = _read_statements(connection, database)
        if found is not None:
            return found, None
        with connect(maintenance_url(url)) as elsewhere:
            found = _read_statements(elsewhere, database)
    except (psycopg.Error, DatabaseToolError) as exc:
        return None, f"pg_stat_statements could not be read: {str(exc).strip().splitlines()[0]}"
    if found is None:
        return None, (
            "pg_stat_statements is loaded but not created here or in the postgres database"
            " (CREATE EXTENSION pg_stat_statements)"
        )
    return found, None


def check_health(target: DatabaseTarget, url: str) -> DatabaseHealth:
    """The health of the target's database at `url`; unreachable is a result, not an error."""
    database = str(conninfo_to_dict(url).get("dbname", ""))
    where = describe_url(url)
    try:
        with connect(url) as connection:
            row = connection.execute(
                "SELECT current_setting('server_version'), pg_database_size(current_database())"
            ).fetchone()
            assert row is not None
            statements, unavailable = _statements(connection, url, database)
            return DatabaseHealth(
                target.name,
                database,
                where,
                reachable=True,
                server_version=str(row[0]).split(" ")[0],
                bytes=int(row[1]),
                connections=_connections(connection),
                longest_transaction=_longest_transaction(connection),
                cache_hit_ratio=_cache_hit_ratio(connection),
                largest_tables=_largest_tables(connection),
                slowest_statements=statements,
                statements_unavailable=unavailable,
            )
    except DatabaseToolError as exc:
        return DatabaseHealth(target.name, database, where, reachable=False, error=str(exc))
    except psycopg.Error as exc:  # connected, but a statistics query failed (e.g. permissions)
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return DatabaseHealth(target.name, database, where, reachable=True, error=reason)


def _percent(ratio: float | None) -> str:
    return "n/a" if ratio is None else f"{ratio * 100:.1f}%"


def format_health(health: DatabaseHealth) -> list[str]:
    """The report as lines of text: one line when unreachable, a block when reachable."""
    head = f"{health.target} ({health.where})"
    if not health.reachable:
        return [f"{head}: unreachable: {health.error}"]
    if health.error is not None:
        return [f"{head}: reachable, but the health queries failed: {health.error}"]
    lines = [
        f"{head}: reachable, PostgreSQL {health.server_version}, {human_size(health.bytes or 0)}",
        "  connections: "
        + (", ".join(f"{n} {state}" for state, n in health.connections.items()) or "none other"),
    ]
    tx = health.longest_transaction
    if tx is None:
        lines.append("  longest transaction: none open")
    else:
        lines.append(
            f"  longest transaction: {tx.seconds:.1f} s, pid {tx.pid} on {tx.database}"
            f" ({tx.state}): {tx.query}"
        )
    lines.append(f"  cache hit ratio: {_percent(health.cache_hit_ratio)}")
    lines.append("  largest tables (dead rows):")
    for table in health.largest_tables:
        lines.append(
            f"    {table.table}: {human_size(table.bytes)}, {table.live_rows} live,"
            f" {table.dead_rows} dead ({_percent(table.dead_ratio)})"
        )
    if not health.largest_tables:
        lines.append("    (no tables)")
    if health.slowest_statements is None:
        lines.append(f"  slowest statements: unavailable: {health.statements_unavailable}")
    else:
        lines.append("  slowest statements (mean):")
        for statement in health.slowest_statements:
            lines.append(f"    {statement.mean_ms:.2f} ms x {statement.calls}: {statement.query}")
        if not health.slowest_statements:
            lines.append("    (none recorded)")
    return lines
