"""Copies of a database by `CREATE DATABASE ... TEMPLATE`, with what such a copy leaves behind.

PostgreSQL copies a template's contents but keeps two things per database, outside it: the
settings made by `ALTER DATABASE ... SET` and `ALTER ROLE ... IN DATABASE ... SET`
(pg_db_role_setting), and the database's own privileges (datacl; core's migrations revoke CONNECT
and TEMPORARY from PUBLIC on atriz_shared). `clone_database` reads both from the template and
applies them to the copy, so that the copy answers every question as the original does.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg
from psycopg import sql

from atriz_database.connections import connect
from atriz_database.urls import maintenance_url

__all__ = ["TemplateUnavailableError", "clone_database", "drop_template", "seal_template"]

# The settings whose stored value is a list of items, each double-quoted where it needs it
# (`"$user", public`): pg_dump's list (variable_is_guc_list_quote), which it restores item by
# item, as a single quoted string would become one item.
_LIST_SETTINGS = frozenset(
    {
        "local_preload_libraries",
        "search_path",
        "session_preload_libraries",
        "shared_preload_libraries",
        "temp_tablespaces",
        "unix_socket_directories",
    }
)
_LIST_ITEM = re.compile(r'\s*(?:"((?:[^"]|"")*)"|([^,]*?))\s*(?:,|$)')


class TemplateUnavailableError(Exception):
    """The template could not be copied now (someone is connected to it, or it is gone)."""


def _name(url: str) -> str:
    return str(psycopg.conninfo.conninfo_to_dict(url)["dbname"])


def seal_template(url: str) -> None:
    """Mark the database at `url` as a template nobody may connect to: a connection to a
    template makes every `CREATE DATABASE ... TEMPLATE` from it fail."""
    with connect(maintenance_url(url), on_behalf_of=url) as connection:
        connection.execute(
            sql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false").format(
                sql.Identifier(_name(url))
            )
        )


def drop_template(url: str) -> None:
    """Drop the template (or half-made one) at `url`, if it exists."""
    name = sql.Identifier(_name(url))
    with connect(maintenance_url(url), on_behalf_of=url) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (_name(url),)
        ).fetchone()
        if exists:
            # PostgreSQL refuses to drop a database marked as a template.
            connection.execute(sql.SQL("ALTER DATABASE {} IS_TEMPLATE false").format(name))
            connection.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(name))


def clone_database(template_url: str, url: str) -> None:
    """Create the database at `url` as a copy of the one at `template_url`, its database-level
    settings and privileges included. Raises `TemplateUnavailableError` when the template is in
    use or gone; nothing is created then."""
    template, copy = _name(template_url), _name(url)
    with connect(maintenance_url(url), on_behalf_of=url) as connection:
        try:
            connection.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(copy), sql.Identifier(template)
                )
            )
        except (psycopg.errors.ObjectInUse, psycopg.errors.InvalidCatalogName) as exc:
            raise TemplateUnavailableError(str(exc).strip()) from exc
        try:
            _copy_settings(connection, template, copy)
            _copy_privileges(connection, template, copy)
        except BaseException:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(copy))
            )
            raise


def _copy_settings(connection: psycopg.Connection[Any], template: str, copy: str) -> None:
    rows = connection.execute(
        "SELECT r.rolname, s.setconfig FROM pg_db_role_setting s"
        " JOIN pg_database d ON d.oid = s.setdatabase"
        " LEFT JOIN pg_roles r ON r.oid = s.setrole"
        " WHERE d.datname = %s",
        (template,),
    ).fetchall()
    for role, config in rows:
        for entry in config:
            name, _, value = entry.partition("=")
            target = (
                sql.SQL("ROLE {} IN DATABASE {}").format(sql.Identifier(role), sql.Identifier(copy))
                if role
                else sql.SQL("DATABASE {}").format(sql.Identifier(copy))
            )
            connection.execute(
                sql.SQL("ALTER {} SET {} TO {}").format(
                    target, sql.Identifier(name), _setting_value(name, value)
                )
            )


def _setting_value(name: str, value: str) -> sql.Composable:
    if name.lower() not in _LIST_SETTINGS:
        return sql.Literal(value)
    items = [quoted.replace('""', '"') or bare for quoted, bare in _LIST_ITEM.findall(value)]
    return sql.SQL(", ").join(sql.Literal(item) for item in items if item)


def _copy_privileges(connection: psycopg.Connection[Any], template: str, copy: str) -> None:
    row = connection.execute(
        "SELECT datacl IS NULL FROM pg_database WHERE datname = %s", (template,)
    ).fetchone()
    if row is None or row[0]:
        return  # NULL: the default privileges, which the copy has too
    grants = connection.execute(
        "SELECT coalesce(r.rolname, 'PUBLIC'), a.is_grantable,"
        " string_agg(a.privilege_type, ', ' ORDER BY a.privilege_type)"
        " FROM pg_database d, aclexplode(d.datacl) a"
        " LEFT JOIN pg_roles r ON r.oid = a.grantee"
        " WHERE d.datname = %s"
        " GROUP BY 1, 2",
        (template,),
    ).fetchall()
    database = sql.Identifier(copy)
    # From the default (the owner's privileges and PUBLIC's) to none, then the template's.
    connection.execute(
        sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC, CURRENT_USER").format(database)
    )
    for grantee, grantable, privileges in grants:
        connection.execute(
            sql.SQL("GRANT {} ON DATABASE {} TO {}{}").format(
                sql.SQL(privileges),
                database,
                sql.SQL("PUBLIC") if grantee == "PUBLIC" else sql.Identifier(grantee),
                sql.SQL(" WITH GRANT OPTION" if grantable else ""),
            )
        )
