"""Connection URLs: which server and database each target uses, and how to name them in messages."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict

from atriz_database.embedded import embedded_url
from atriz_database.errors import ConfigurationError
from atriz_database.settings import (
    DatabaseSettings,
    Environment,
    current_environment,
    env_str,
)

if TYPE_CHECKING:
    from atriz_database.targets import DatabaseTarget

__all__ = [
    "check_postgres_url",
    "database_url",
    "describe_url",
    "direct_url",
    "libpq_env_url",
    "maintenance_url",
    "server_is_configured",
    "with_credentials",
    "with_database",
    "with_server",
    "yoyo_url",
]

_SCHEMES = ("postgresql", "postgres")


def server_is_configured() -> bool:
    """True when libpq's `PGHOST` names a server; otherwise the embedded default is used."""
    return env_str("PGHOST") is not None


def database_url(target: DatabaseTarget) -> str:
    """The URL of a target's database.

    The target's own variable (e.g. `SHARED_DATABASE_URL`) wins; else libpq's `PGHOST`, `PGPORT`,
    `PGUSER`, `PGPASSWORD` with the target's database name; else the embedded server, except in
    production, which raises `ConfigurationError`: a server that starts on demand inside the
    project folder must never quietly become production's database.
    """
    explicit = env_str(target.url_env)
    if explicit is not None:
        check_postgres_url(target.url_env, explicit)
        return explicit
    if server_is_configured():
        return libpq_env_url(target.database)
    if current_environment() is Environment.PRODUCTION:
        raise ConfigurationError(
            f"ATRIZ_ENV=production needs a configured database: set {target.url_env}"
            " (or PGHOST); the embedded PostgreSQL is for development and tests only"
        )
    return embedded_url(target.database)


def direct_url(target: DatabaseTarget) -> str:
    """The URL of a target's database straight to PostgreSQL, for the commands: migrations
    hold a session advisory lock, yoyo and psycopg prepare statements, `pg_dump` sets session
    settings, and none of that survives PgBouncer's transaction mode.

    The target's `*_DIRECT_URL` (e.g. `SHARED_DIRECT_URL`) wins; else its `database_url`,
    unless `ATRIZ_DB_POOLER` says that one leads to PgBouncer: then `ConfigurationError`.
    """
    explicit = env_str(target.direct_url_env)
    if explicit is not None:
        check_postgres_url(target.direct_url_env, explicit)
        return explicit
    if DatabaseSettings.from_env().pooled:
        raise ConfigurationError(
            f"ATRIZ_DB_POOLER=transaction: set {target.direct_url_env} to reach"
            f" {target.database} straight (the commands need a session of their own, which"
            " PgBouncer's transaction mode does not keep)"
        )
    return database_url(target)


def check_postgres_url(name: str, url: str) -> None:
    """Refuse, naming the variable, a URL that is not PostgreSQL's or that libpq cannot read as
    it is written (the migrations connect through libpq): asyncpg reads some of those its own
    way, and the mistake would only show as a failed connection, far from its cause. Neither
    the URL nor libpq's message is quoted back: either may hold the password."""
    scheme = urlsplit(url).scheme
    if scheme not in _SCHEMES:
        raise ConfigurationError(f"{name} must be a postgresql:// URL, got scheme {scheme!r}")
    reason = _unreadable(url)
    if reason is not None:
        raise ConfigurationError(f"{name} is not a URL that libpq can read as written: {reason}")


# libpq's complaint about a query parameter it does not know: the name alone is quoted back,
# when it looks like one (a password with a stray '?' would land there otherwise).
_UNKNOWN_PARAMETER = re.compile(r'invalid URI query parameter: "([a-z_]+)"')


def _unreadable(url: str) -> str | None:
    """Why libpq cannot read `url`, or would read it otherwise than it looks; None if it reads
    it as written. Never quotes the URL."""
    try:
        params = conninfo_to_dict(url)
        parts = urlsplit(url)  # as asyncpg, which the services connect with, reads it
    except psycopg.ProgrammingError as exc:
        unknown = _UNKNOWN_PARAMETER.search(str(exc))
        if unknown is not None:
            return (
                f"libpq knows no parameter {unknown[1]!r} (a server setting goes in `options`:"
                f" options=-c%20{unknown[1]}%3D...)"
            )
        return (
            "check that its query has one '?' and its parameters are joined by '&', and that"
            " special characters are percent-encoded"
        )
    except ValueError:  # UnicodeError too
        return "it does not parse as a URL"
    # An unencoded '@', '/', '?' or '#' in the user name or password moves the rest of it into
    # the host, the port or the database, for libpq or for asyncpg, without complaint.
    read = {key: str(value) for key, value in params.items()}
    query = dict(parse_qsl(parts.query))  # a user name or password may come in the query too
    user = unquote(parts.username) if parts.username is not None else query.get("user", "")
    password = unquote(parts.password) if parts.password is not None else query.get("password", "")
    ports = read.get("port", "").split(",")
    if (
        any(port and not port.isdigit() for port in ports)
        or any("@" in read.get(key, "") for key in ("host", "hostaddr", "dbname"))
        or (user, password) != (read.get("user", ""), read.get("password", ""))
    ):
        return (
            "its user name or password would be read as part of the host, port or database:"
            " percent-encode '@', '/', '?', '#' and ':' in them"
        )
    return None


def with_server(url: str, host: str, port: int) -> str:
    """The same database and credentials on another server (`host:port`, over TCP)."""
    parts = urlsplit(url)
    credentials = parts.netloc.rpartition("@")[0]
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k not in ("host", "port")])
    netloc = f"{credentials}@{host}:{port}" if credentials else f"{host}:{port}"
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def libpq_env_url(database: str) -> str:
    """A URL for `database` on the server that libpq's `PG*` variables name."""
    host = env_str("PGHOST", "localhost") or "localhost"
    user = quote(env_str("PGUSER", "postgres") or "postgres", safe="")
    password = env_str("PGPASSWORD")
    credentials = f"{user}:{quote(password, safe='')}" if password else user
    port = env_str("PGPORT", "5432")
    if host.startswith("/"):  # a socket folder cannot sit in the URL's host part
        query = urlencode({"host": host, "port": port})
        return f"postgresql://{credentials}@/{quote(database)}?{query}"
    return f"postgresql://{credentials}@{host}:{port}/{quote(database)}"


def with_database(url: str, database: str) -> str:
    """The same server and credentials, connected to another database."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{quote(database)}"))


def with_credentials(url: str, user: str, password: str | None = None) -> str:
    """The same server and database, as another role."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    credentials = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")
    return urlunsplit(parts._replace(netloc=f"{credentials}@{host}"))


def maintenance_url(url: str) -> str:
    """The same server, connected to the `postgres` database (to create or drop others)."""
    return with_database(url, "postgres")


def describe_url(url: str) -> str:
    """`host:port/database` for messages: never the password. It never raises, as it describes
    URLs in error messages: one that libpq cannot read as written is not described at all (its
    parts could hold the password)."""
    if _unreadable(url) is not None:
        return "(a URL that libpq cannot read)"
    params = conninfo_to_dict(url)
    host = params.get("host") or "localhost"
    port = params.get("port") or "5432"
    return f"{host}:{port}/{params.get('dbname', '')}"


def yoyo_url(url: str) -> str:
    """The URL yoyo-migrations needs to use its psycopg 3 backend."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme="postgresql+psycopg"))
