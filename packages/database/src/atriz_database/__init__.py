"""Atriz's database toolkit: configuration, the embedded PostgreSQL default, asyncpg pools and
transactions, and the yoyo-migrations runner behind the `db-*` commands."""

from atriz_database.errors import (
    ConfigurationError,
    DatabaseToolError,
    DatabaseUnavailableError,
    MigrationError,
    PoolTimeoutError,
    RefusedError,
    UnknownTargetError,
)
from atriz_database.pool import close_pool, create_pool, transaction
from atriz_database.settings import DatabaseSettings, Environment, current_environment
from atriz_database.targets import DatabaseTarget, Reference, TargetRegistry
from atriz_database.urls import database_url

__all__ = [
    "ConfigurationError",
    "DatabaseSettings",
    "DatabaseTarget",
    "DatabaseToolError",
    "DatabaseUnavailableError",
    "Environment",
    "MigrationError",
    "PoolTimeoutError",
    "Reference",
    "RefusedError",
    "TargetRegistry",
    "UnknownTargetError",
    "close_pool",
    "create_pool",
    "current_environment",
    "database_url",
    "transaction",
]
