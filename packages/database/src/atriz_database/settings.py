"""Configuration shared by every Atriz process: the environment name, the project root, `.env`."""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from pathlib import Path

from dotenv import dotenv_values

from atriz_database.env import Env
from atriz_database.errors import ConfigurationError

__all__ = [
    "POOLER_TRANSACTION",
    "DatabaseSettings",
    "Env",
    "Environment",
    "current_environment",
    "env_float",
    "env_int",
    "env_str",
    "load_env_file",
    "project_root",
]


POOLER_TRANSACTION = "transaction"
"""`ATRIZ_DB_POOLER`'s one value: PgBouncer's transaction pooling mode."""


class Environment(enum.StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


def project_root() -> Path:
    """The folder that holds `.env` and `.atriz/`.

    `ATRIZ_HOME` wins; otherwise the nearest folder at or above the working directory that holds
    `uv.lock` (so commands behave the same from any sub-folder of the checkout); otherwise the
    working directory itself.
    """
    home = os.environ.get("ATRIZ_HOME")
    if home:
        return Path(home).resolve()
    cwd = Path.cwd().resolve()
    for folder in (cwd, *cwd.parents):
        if (folder / "uv.lock").is_file():
            return folder
    return cwd


def load_env_file(root: Path | None = None) -> None:
    """Copy variables from `<root>/.env` into the environment; variables already set win."""
    path = (root or project_root()) / ".env"
    if not path.is_file():
        return
    for name, value in dotenv_values(path).items():
        if value is not None:
            os.environ.setdefault(name, value)


def env_str(name: str, default: str | None = None) -> str | None:
    """An environment variable, with empty strings treated as unset."""
    return Env().string(name) or default


def env_int(name: str, default: int) -> int:
    """An integer environment variable; a malformed value stops the process with a clear message."""
    return Env().integer(name, default)


def env_float(name: str, default: float) -> float:
    """A number of seconds (or any real number); a malformed value stops the process."""
    return Env().number(name, default)


def current_environment(env: Env | None = None) -> Environment:
    """`ATRIZ_ENV`: development (default), test or production."""
    raw = (env or Env()).string("ATRIZ_ENV", Environment.DEVELOPMENT.value)
    try:
        return Environment(raw)
    except ValueError:
        choices = ", ".join(e.value for e in Environment)
        raise ConfigurationError(f"ATRIZ_ENV must be one of {choices}, got {raw!r}") from None


@dataclass(frozen=True)
class DatabaseSettings:
    """How processes use PostgreSQL, read from the environment by `from_env`."""

    pool_min_size: int = 1
    """`ATRIZ_DB_POOL_MIN`: connections each pool keeps open."""
    pool_max_size: int = 10
    """`ATRIZ_DB_POOL_MAX`: the most connections one pool opens."""
    connect_timeout: int = 10
    """`ATRIZ_DB_CONNECT_TIMEOUT`: seconds to wait for a new connection."""
    acquire_timeout: float = 5.0
    """`ATRIZ_DB_ACQUIRE_TIMEOUT`: seconds a request waits for a free pooled connection before
    it is refused (503 with `Retry-After`) rather than queued without end."""
    idle_transaction_timeout: float = 60.0
    """`ATRIZ_DB_IDLE_TRANSACTION_TIMEOUT`: seconds a pooled session may sit idle inside a
    transaction before the server ends it. Apps read `user_events` only from transactions older
    than the oldest one running on the whole server, so one forgotten transaction anywhere
    would stall every app's event reader."""
    statement_timeout: float = 30.0
    """`ATRIZ_DB_STATEMENT_TIMEOUT`: seconds one statement of a pooled session may run before
    the server cancels it (503 with `Retry-After`): a runaway query must not hold a pooled
    connection, and the request behind it, without end. 0 switches it off."""
    lock_timeout: float = 5.0
    """`ATRIZ_DB_LOCK_TIMEOUT`: seconds a pooled session's statement may wait for a lock (a row
    another request holds, a table a migration alters) before it fails with 503; requests then
    never queue up behind one lock holder until the pool runs dry. 0 switches it off."""
    migration_lock_timeout: str = "5s"
    """`ATRIZ_MIGRATION_LOCK_TIMEOUT`: how long a migration statement may wait for a table lock
    before failing, so that it never queues live queries behind it for longer."""
    migration_wait: float = 600.0
    """`ATRIZ_MIGRATION_WAIT`: seconds a migrator waits for another one to finish before it
    fails, naming the session that holds the migration lock (any login may take an advisory
    lock: one that holds this one must not stop every release for good)."""
    pooler: str | None = None
    """`ATRIZ_DB_POOLER`: `transaction` when the process's database URLs lead to PgBouncer in
    transaction pooling mode; unset, they lead straight to PostgreSQL. Pooled, a connection is
    a server session only for one transaction at a time, so the pools keep no prepared
    statements (PgBouncer 1.18 cannot carry them over) and send no session settings at
    connect (it refuses them): the timeouts above become the login's defaults in the database
    instead (`atriz_database.pool`). Whatever needs a session of its own (the migrator's
    advisory lock, `LISTEN`) connects through the `*_DIRECT_URL`s."""
    custom_plans: bool = False
    """Not from the environment: an app whose tables are partitioned sets it. Its sessions then
    plan every statement for its own values (`plan_cache_mode = force_custom_plan`): a generic
    plan, which PostgreSQL builds at a statement's sixth run and again whenever a partition is
    added or analyzed, opens and locks every partition, whatever the values prune away."""
    replica_max_lag: float = 5.0
    """`ATRIZ_REPLICA_MAX_LAG`: seconds a read replica may trail its primary and still serve
    the reads that tolerate stale data; further behind (or down), they go to the primary."""

    @property
    def pooled(self) -> bool:
        """The URLs lead to PgBouncer in transaction mode (`ATRIZ_DB_POOLER=transaction`)."""
        return self.pooler == POOLER_TRANSACTION

    @classmethod
    def from_env(cls, env: Env | None = None) -> DatabaseSettings:
        """The `ATRIZ_DB_*` settings from `env` (default: the process environment)."""
        env = env or Env()
        return cls(
            pool_min_size=env.integer("ATRIZ_DB_POOL_MIN", cls.pool_min_size),
            pool_max_size=env.integer("ATRIZ_DB_POOL_MAX", cls.pool_max_size),
            connect_timeout=env.integer("ATRIZ_DB_CONNECT_TIMEOUT", cls.connect_timeout),
            acquire_timeout=env.number("ATRIZ_DB_ACQUIRE_TIMEOUT", cls.acquire_timeout),
            idle_transaction_timeout=env.number(
                "ATRIZ_DB_IDLE_TRANSACTION_TIMEOUT", cls.idle_transaction_timeout
            ),
            statement_timeout=env.number("ATRIZ_DB_STATEMENT_TIMEOUT", cls.statement_timeout),
            lock_timeout=env.number("ATRIZ_DB_LOCK_TIMEOUT", cls.lock_timeout),
            migration_lock_timeout=env.string(
                "ATRIZ_MIGRATION_LOCK_TIMEOUT", cls.migration_lock_timeout
            ),
            # At most a day: lock_timeout takes no more than about 24.8 days anyway.
            migration_wait=env.number(
                "ATRIZ_MIGRATION_WAIT", cls.migration_wait, low=0.1, high=86_400
            ),
            pooler=_pooler(env),
            replica_max_lag=env.number("ATRIZ_REPLICA_MAX_LAG", cls.replica_max_lag, low=0.1),
        )


def _pooler(env: Env) -> str | None:
    value = env.string("ATRIZ_DB_POOLER")
    if value is None or value.lower() == POOLER_TRANSACTION:
        return None if value is None else POOLER_TRANSACTION
    raise ConfigurationError(
        f"ATRIZ_DB_POOLER must be {POOLER_TRANSACTION!r} (PgBouncer in transaction pooling"
        f" mode) or unset (straight to PostgreSQL), got {value!r}"
    )
