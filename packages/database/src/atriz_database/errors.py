"""Errors of the database toolkit. Each message is one line meant for the person at the terminal."""

__all__ = [
    "ConfigurationError",
    "DatabaseToolError",
    "DatabaseUnavailableError",
    "MigrationError",
    "RefusedError",
    "UnknownTargetError",
]


class DatabaseToolError(Exception):
    """Base class: the command prints the message and exits non-zero, without a traceback."""


class UnknownTargetError(DatabaseToolError):
    """A target name that no installed package registers."""


class DatabaseUnavailableError(DatabaseToolError):
    """PostgreSQL could not be reached or refused the connection."""


class MigrationError(DatabaseToolError):
    """A migration failed, or may not run yet; nothing of it was applied."""


class RefusedError(DatabaseToolError):
    """The command will not run in this environment (for example, seeding production)."""


class ConfigurationError(DatabaseToolError):
    """An environment variable holds a value that cannot be used."""
