"""Errors of the database toolkit. Each message is one line meant for the person at the terminal."""

__all__ = [
    "BackupError",
    "ConfigurationError",
    "DatabaseToolError",
    "DatabaseUnavailableError",
    "MigrationError",
    "PoolTimeoutError",
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


class BackupError(DatabaseToolError):
    """A backup or restore could not be made; the database it worked on is as it was."""


class ConfigurationError(DatabaseToolError):
    """An environment variable holds a value that cannot be used."""


class PoolTimeoutError(DatabaseUnavailableError):
    """Every connection of a pool stayed busy for the whole acquire timeout: the service is
    overloaded, and the caller should answer 503 rather than queue without end."""

    def __init__(self, timeout: float) -> None:
        super().__init__(f"no database connection became free within {timeout:g} s")
        self.timeout = timeout
