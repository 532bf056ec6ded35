"""Which server a target's URL names: production never falls back to the embedded server."""

from __future__ import annotations

from pathlib import Path

import pytest

from atriz_database import ConfigurationError
from atriz_database.targets import DatabaseTarget
from atriz_database.urls import database_url

CORE = DatabaseTarget("core", "atriz_shared", "SHARED_DATABASE_URL", Path("m"), Path("s"))


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """ATRIZ_ENV=production with no database configured."""
    monkeypatch.setenv("ATRIZ_ENV", "production")
    for name in ("SHARED_DATABASE_URL", "PGHOST", "PGPORT", "PGUSER", "PGPASSWORD"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_production_without_a_database_names_the_variable_to_set(
    production: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ConfigurationError) as refused:
        database_url(CORE)

    message = str(refused.value)
    assert message == (
        "ATRIZ_ENV=production needs a configured database: set SHARED_DATABASE_URL (or PGHOST);"
        " the embedded PostgreSQL is for development and tests only"
    )
    assert "\n" not in message


def test_production_uses_the_target_variable(production: pytest.MonkeyPatch) -> None:
    production.setenv("SHARED_DATABASE_URL", "postgresql://app@db.internal:5432/atriz_shared")
    assert database_url(CORE) == "postgresql://app@db.internal:5432/atriz_shared"


def test_production_uses_pghost(production: pytest.MonkeyPatch) -> None:
    production.setenv("PGHOST", "db.internal")
    assert database_url(CORE) == "postgresql://postgres@db.internal:5432/atriz_shared"
