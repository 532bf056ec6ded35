"""Synchronous psycopg connections for the commands, with failures turned into one-line errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql

from atriz_database.errors import DatabaseUnavailableError
from atriz_database.urls import describe_url, maintenance_url

__all__ = [
    "connect",
    "connection_failure",
    "create_database",
    "database_exists",
    "drop_database",
]


def connection_failure(url: str, exc: BaseException) -> DatabaseUnavailableError:
    """One line that names the server and database and says why the connection failed."""
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    reason = first_line.rsplit("failed: ", 1)[-1].removeprefix("FATAL:").strip()
    if "does not exist" in reason:
        reason += (
            " (run `uv run db-create all`, or `uv run atriz dev --no-serve` to create, migrate"
            " and seed every database)"
        )
    return DatabaseUnavailableError(
        f"cannot connect to PostgreSQL at {describe_url(url)}: {reason}"
    )


@contextmanager
def connect(
    url: str, *, on_behalf_of: str | None = None
) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
    """An autocommit psycopg connection to `url`.

    A failure to connect raises `DatabaseUnavailableError` naming `on_behalf_of` (the database the
    caller is working on, when it connects to the maintenance database to create or drop it).
    """
    try:
        connection = psycopg.connect(url, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        raise connection_failure(on_behalf_of or url, exc) from exc
    with connection:
        yield connection


def _database_name(url: str) -> str:
    name = psycopg.conninfo.conninfo_to_dict(url).get("dbname")
    return str(name)


def database_exists(url: str) -> bool:
    """Whether the database that `url` names exists on its server."""
    with connect(maintenance_url(url), on_behalf_of=url) as connection:
        row = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (_database_name(url),)
        ).fetchone()
    return row is not None


def create_database(url: str) -> bool:
    """Create the database that `url` names; False if it already existed."""
    name = _database_name(url)
    with connect(maintenance_url(url), on_behalf_of=url) as connection:
        try:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except (psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
            # Two creators at once: the loser sees one of these; either way it exists now.
            return False
    return True


def drop_database(url: str) -> bool:
    """Drop the database that `url` names, ending its sessions; False if it did not exist."""
    name = _database_name(url)
    with connect(maintenance_url(url), on_behalf_of=url) as connection:
        existed = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
    return existed is not None
