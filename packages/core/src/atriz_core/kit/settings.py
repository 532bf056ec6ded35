"""Typed settings for every service: the environment reader and the fields all apps share.

`Env` reads one variable per call, typed and bounded, and refuses a malformed value with a
`ConfigurationError` that names the variable, the value and the expected form (it lives in
`atriz_database.env` so that the database toolkit's own settings use it too). `AppSettings` is
the frozen dataclass every app's settings extend; `app_fields` reads its fields, so that an
app's `settings.py` adds only its own:

    @dataclass(frozen=True, kw_only=True)
    class PshopSettings(AppSettings):
        idempotency_hours: int = 24
        \"\"\"`PSHOP_IDEMPOTENCY_HOURS`: how long an idempotency key is remembered.\"\"\"

        @classmethod
        def from_env(cls, environ: Mapping[str, str] | None = None) -> PshopSettings:
            env = Env(environ)
            return cls(
                **app_fields(env, prefix="PSHOP", service="pshop", target=target,
                             default_port=8003),
                idempotency_hours=env.integer("PSHOP_IDEMPOTENCY_HOURS", 24, low=1, high=168),
            )

Nothing here reads the environment at import time. `.env` is the caller's business
(`atriz_database.settings.load_env_file()` before `from_env`, as `create_app_from_env` does).
Database URLs go through `atriz_database.database_url`, which derives them from the process
environment (`PG*`, the embedded server), whatever mapping `Env` was given.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TypedDict
from urllib.parse import urlsplit

from atriz_core.db import target as core_target
from atriz_database import (
    ConfigurationError,
    DatabaseSettings,
    DatabaseTarget,
    Environment,
    current_environment,
    database_url,
)
from atriz_database.env import Env, is_placeholder, parse_duration
from atriz_database.urls import check_postgres_url

__all__ = [
    "DEFAULT_CORE_URL",
    "DEFAULT_ISSUER",
    "AppFields",
    "AppSettings",
    "Env",
    "app_fields",
    "core_issuer",
    "development_client_secret",
    "is_placeholder",
    "parse_duration",
]

DEFAULT_CORE_URL = "http://127.0.0.1:8000"
# The same as the apps' default core URL and `atriz dev`'s: an app served alone (`atriz serve`)
# beside `atriz dev` then checks the issuer `atriz dev`'s core signs with.
DEFAULT_ISSUER = DEFAULT_CORE_URL
_POSTGRES_SCHEMES = ("postgresql", "postgres")
_CURSOR_SECRET_BYTES = 32


def core_issuer(env: Env) -> str:
    """The `iss` of core's tokens: `CORE_ISSUER`, else `CORE_PUBLIC_URL` (without a trailing
    slash), else `http://127.0.0.1:8000`. Core signs with it and every app checks it, both
    through this one function, so they agree without configuration."""
    public_url = env.url("CORE_PUBLIC_URL", DEFAULT_ISSUER).rstrip("/")
    return env.string("CORE_ISSUER", public_url)


@dataclass(frozen=True, kw_only=True)
class AppSettings:
    """What every app needs to serve: who it is, where it listens, its databases, core."""

    service: str
    """The app's name (`pshop`): its token audience, its log and metric label."""
    environment: Environment = Environment.DEVELOPMENT
    """`ATRIZ_ENV`: development, test or production."""
    host: str = "127.0.0.1"
    """`ATRIZ_HOST`: the address to bind; the loopback address unless exposing is decided."""
    port: int
    """`<PREFIX>_PORT`: the port to bind (website 8001, mextrack 8002, pshop 8003)."""
    database_url: str = field(repr=False)
    """The app's own database: `<PREFIX>_DATABASE_URL`, else derived from `PG*`, else the
    embedded server (never in production). Not in `repr`: a URL may hold a password."""
    shared_database_url: str = field(repr=False)
    """`<PREFIX>_SHARED_DATABASE_URL`: the app's reader login on `atriz_shared` (a role in
    `atriz_app_reader`, which sees the user columns apps need and nothing else). Unset outside
    production: core's own database URL. Required in production."""
    shared_direct_url: str | None = field(default=None, repr=False)
    """`<PREFIX>_SHARED_DIRECT_URL`: the same reader login on `atriz_shared`, straight to
    PostgreSQL, for the worker's `LISTEN` on user events when the shared URL leads to PgBouncer
    (`ATRIZ_DB_POOLER=transaction`); unset then, the app polls for them (every 2 s). Outside
    production, unset: core's own `SHARED_DIRECT_URL`, if set."""
    replica_url: str | None = field(default=None, repr=False)
    """`<PREFIX>_REPLICA_URL`: a streaming replica of the app's database, for the reads that
    tolerate slightly stale data (`atriz_core.kit.replica`); unset, every read is the
    primary's."""
    core_url: str = DEFAULT_CORE_URL
    """`ATRIZ_CORE_URL`: where the app reaches core (its JWKS), without a trailing slash."""
    issuer: str = DEFAULT_ISSUER
    """`CORE_ISSUER`, else `CORE_PUBLIC_URL`, else `http://127.0.0.1:8000`: the `iss` the app
    accepts, read exactly as core reads it."""
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    """Pool sizes and timeouts (`ATRIZ_DB_*`), for both of the app's pools."""
    cursor_secret: bytes = field(repr=False)
    """`ATRIZ_CURSOR_SECRET`: the key that makes pagination cursors tamper-evident. Outside
    production a fixed value derived from the service name; production requires at least 32
    bytes that are not a placeholder."""
    max_body_bytes: int = 1024 * 1024
    """`<PREFIX>_MAX_BODY_BYTES`: the largest request body; larger ones get 413."""
    metrics_token: str | None = field(default=None, repr=False)
    """`ATRIZ_METRICS_TOKEN`: when set, `/metrics` wants it as a bearer token; unset, serve
    `/metrics` on an internal network only."""
    public_url: str = ""
    """`<PREFIX>_PUBLIC_URL`: where browsers reach the app (its sign-in callback is
    `<public_url>/auth/callback`). Default `http://127.0.0.1:<port>`; https in production."""
    oidc_client_id: str = ""
    """`<PREFIX>_OIDC_CLIENT_ID`: the app's client id at core. Default: the service name."""
    oidc_client_secret: str = field(default="", repr=False)
    """`<PREFIX>_OIDC_CLIENT_SECRET`: the app's client secret at core (`atriz clients add`
    prints it). Outside production a fixed development value (`development_client_secret`),
    the one `atriz dev` registers; production requires a real one."""

    @property
    def jwks_url(self) -> str:
        """Core's published verification keys."""
        return f"{self.core_url}/.well-known/jwks.json"


class AppFields(TypedDict):
    """`AppSettings`' fields as `app_fields` reads them, to unpack into a settings class."""

    service: str
    environment: Environment
    host: str
    port: int
    database_url: str
    shared_database_url: str
    shared_direct_url: str | None
    replica_url: str | None
    core_url: str
    issuer: str
    database: DatabaseSettings
    cursor_secret: bytes
    max_body_bytes: int
    metrics_token: str | None
    public_url: str
    oidc_client_id: str
    oidc_client_secret: str


def app_fields(
    env: Env, *, prefix: str, service: str, target: DatabaseTarget, default_port: int
) -> AppFields:
    """Read `AppSettings`' fields for the app `service`, whose variables start with `prefix`
    (`PSHOP`) and whose own database is `target`."""
    environment = current_environment(env)
    production = environment is Environment.PRODUCTION
    port = env.integer(f"{prefix}_PORT", default_port, low=1, high=65535)
    public_url = env.url(f"{prefix}_PUBLIC_URL", f"http://127.0.0.1:{port}").rstrip("/")
    if production and not _is_https_or_loopback(public_url):
        raise ConfigurationError(
            f"{prefix}_PUBLIC_URL must be an https:// URL in production (got {public_url!r}):"
            " the app's session cookie must travel over TLS only (http is accepted for a"
            " loopback host alone, a local trial of the production image)"
        )
    return AppFields(
        service=service,
        environment=environment,
        host=env.string("ATRIZ_HOST", "127.0.0.1"),
        port=port,
        database_url=database_url(target),
        shared_database_url=_shared_database_url(env, prefix, production=production),
        shared_direct_url=_postgres_url(env, f"{prefix}_SHARED_DIRECT_URL")
        or (None if production else _postgres_url(env, core_target.direct_url_env)),
        replica_url=_postgres_url(env, f"{prefix}_REPLICA_URL"),
        core_url=env.url("ATRIZ_CORE_URL", DEFAULT_CORE_URL).rstrip("/"),
        issuer=core_issuer(env),
        database=DatabaseSettings.from_env(env),
        cursor_secret=_cursor_secret(env, service, production=production),
        max_body_bytes=env.integer(
            f"{prefix}_MAX_BODY_BYTES", 1024 * 1024, low=1024, high=256 * 1024 * 1024
        ),
        # Optional anywhere: unset, `/metrics` is for an internal network only.
        metrics_token=env.secret("ATRIZ_METRICS_TOKEN", production=False, min_length=16),
        public_url=public_url,
        oidc_client_id=env.string(f"{prefix}_OIDC_CLIENT_ID", service),
        oidc_client_secret=env.secret(
            f"{prefix}_OIDC_CLIENT_SECRET", production=production, min_length=32
        )
        or development_client_secret(service),
    )


def _postgres_url(env: Env, name: str) -> str | None:
    # No host required: a PostgreSQL URL may name a socket folder in its query instead.
    url = env.url(name, schemes=_POSTGRES_SCHEMES, require_host=False)
    if url is not None:
        check_postgres_url(name, url)
    return url


def _is_https_or_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return url.startswith("https://") or host in {"localhost", "127.0.0.1", "::1"}


def development_client_secret(service: str) -> str:
    """The client secret an app has at core outside production: public, like the development
    cursor secret; core's development seed registers the apps with it (`seeds/30_clients.sql`),
    production refuses to start without a real one."""
    return f"atriz-dev-client-secret-{service}"


def _shared_database_url(env: Env, prefix: str, *, production: bool) -> str:
    name = f"{prefix}_SHARED_DATABASE_URL"
    url = _postgres_url(env, name)
    if url is not None:
        return url
    if production:
        # Core's own login owns atriz_shared; an app must read it as its least-privilege role.
        raise ConfigurationError(
            f"{name} must be set in production: the app's reader login on atriz_shared"
            " (a role in atriz_app_reader), never core's own"
        )
    return database_url(core_target)


def _cursor_secret(env: Env, service: str, *, production: bool) -> bytes:
    secret = env.secret(
        "ATRIZ_CURSOR_SECRET", production=production, min_length=_CURSOR_SECRET_BYTES
    )
    if secret is not None:
        return secret.encode()
    # Development and tests: stable across restarts (cursors handed out stay valid) and
    # different per app, but public: production refuses to start without a real one.
    return hashlib.sha256(f"atriz development cursor secret: {service}".encode()).digest()
