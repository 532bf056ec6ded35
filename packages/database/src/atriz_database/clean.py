"""Emptying a database while keeping its schema and migration history (`db-clean`)."""

from __future__ import annotations

from collections.abc import Collection

from psycopg import sql

from atriz_database.connections import connect
from atriz_database.migrations import BOOKKEEPING_TABLES

__all__ = ["truncate_all"]

_USER_TABLES = """
SELECT n.nspname, c.relname
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p')
  AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_%'
ORDER BY n.nspname, c.relname
"""


def truncate_all(url: str, kept: Collection[str] = ()) -> list[str]:
    """Truncate every table except migration bookkeeping and `kept` (rows the migrations wrote)
    and reset their sequences; return the tables."""
    with connect(url) as connection:
        rows = connection.execute(_USER_TABLES).fetchall()
        tables = [(str(schema), str(name)) for schema, name in rows]
        tables = [(s, n) for s, n in tables if n not in BOOKKEEPING_TABLES and n not in kept]
        if tables:
            # One statement: all or nothing, and CASCADE-free because every table is in the list
            # (a kept table must reference none of them, or the statement fails, naming it).
            connection.execute(
                sql.SQL("TRUNCATE {} RESTART IDENTITY").format(
                    sql.SQL(", ").join(sql.Identifier(s, n) for s, n in tables)
                )
            )
    return [f"{s}.{n}" for s, n in tables]
