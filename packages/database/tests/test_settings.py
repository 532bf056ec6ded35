"""Configuration: `.env`, the environment name, the project root, connection URLs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from atriz_database import ConfigurationError, DatabaseSettings, Environment, current_environment
from atriz_database.settings import load_env_file, project_root
from atriz_database.targets import DatabaseTarget
from atriz_database.urls import database_url, describe_url, libpq_env_url

CORE = DatabaseTarget("core", "atriz_shared", "SHARED_DATABASE_URL", Path("m"), Path("s"))


def test_env_file_fills_gaps_and_the_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text(
        "# comment\nATRIZ_SAMPLE_A='from file'\nATRIZ_SAMPLE_B=from file\n", encoding="utf-8"
    )
    monkeypatch.setenv("ATRIZ_SAMPLE_B", "from environment")
    monkeypatch.delenv("ATRIZ_SAMPLE_A", raising=False)

    load_env_file(tmp_path)

    assert os.environ["ATRIZ_SAMPLE_A"] == "from file"
    assert os.environ["ATRIZ_SAMPLE_B"] == "from environment"
    monkeypatch.delenv("ATRIZ_SAMPLE_A")


def test_project_root_is_found_from_a_sub_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "uv.lock").write_text("", encoding="utf-8")
    deep = tmp_path / "apps" / "pshop" / "src"
    deep.mkdir(parents=True)
    monkeypatch.delenv("ATRIZ_HOME", raising=False)
    monkeypatch.chdir(deep)

    assert project_root() == tmp_path.resolve()
    monkeypatch.setenv("ATRIZ_HOME", str(deep))
    assert project_root() == deep.resolve()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, Environment.DEVELOPMENT),
        ("test", Environment.TEST),
        ("production", Environment.PRODUCTION),
    ],
)
def test_environment_name(
    raw: str | None, expected: Environment, monkeypatch: pytest.MonkeyPatch
) -> None:
    if raw is None:
        monkeypatch.delenv("ATRIZ_ENV", raising=False)
    else:
        monkeypatch.setenv("ATRIZ_ENV", raw)
    assert current_environment() is expected


def test_unknown_environment_name_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATRIZ_ENV", "staging")
    with pytest.raises(ConfigurationError, match="ATRIZ_ENV must be one of"):
        current_environment()


def test_malformed_integer_setting_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATRIZ_DB_POOL_MAX", "ten")
    with pytest.raises(ConfigurationError, match="ATRIZ_DB_POOL_MAX must be an integer, got 'ten'"):
        DatabaseSettings.from_env()


def test_database_url_variable_wins_over_pghost(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGHOST", "db.internal")
    monkeypatch.setenv("SHARED_DATABASE_URL", "postgresql://app@elsewhere:6432/shared")
    assert database_url(CORE) == "postgresql://app@elsewhere:6432/shared"


def test_url_is_derived_from_libpq_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHARED_DATABASE_URL", raising=False)
    monkeypatch.setenv("PGHOST", "db.internal")
    monkeypatch.setenv("PGPORT", "6543")
    monkeypatch.setenv("PGUSER", "atriz")
    monkeypatch.setenv("PGPASSWORD", "p@ss:word/")

    url = database_url(CORE)

    assert url == "postgresql://atriz:p%40ss%3Aword%2F@db.internal:6543/atriz_shared"
    assert describe_url(url) == "db.internal:6543/atriz_shared"


def test_socket_folder_in_pghost_goes_in_the_query(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGHOST", "/var/run/postgresql")
    monkeypatch.delenv("PGPORT", raising=False)
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGUSER", "postgres")
    url = libpq_env_url("atriz_shared")
    assert url == "postgresql://postgres@/atriz_shared?host=%2Fvar%2Frun%2Fpostgresql&port=5432"
    assert describe_url(url) == "/var/run/postgresql:5432/atriz_shared"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://atriz:s3cret@/atriz_shared?host=/run/postgresql?sslmode=require",
        "postgresql://atriz:s3cret%zz@db.internal/atriz_shared",
        # Unencoded in the password, each moves the rest of it into the host, port or database.
        "postgresql://atriz:s3cr/et==@db.internal:5432/atriz_shared",
        "postgresql://atriz:s3c@ret@db.internal/atriz_shared",
        "postgresql://atriz:s3c?ret@db.internal/atriz_shared",
        "postgresql://atriz:s3c#ret@db.internal/atriz_shared",
    ],
    ids=["two question marks", "bad percent-encoding", "slash", "at sign", "question", "hash"],
)
def test_a_url_that_libpq_cannot_read_as_written_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("SHARED_DATABASE_URL", url)
    with pytest.raises(ConfigurationError, match="SHARED_DATABASE_URL is not a URL") as refused:
        database_url(CORE)
    for part in ("s3c", "ret", "et=="):
        assert part not in str(refused.value)
        # Error messages do not describe such a URL at all: its parts could hold the password.
        assert part not in describe_url(url)


def test_a_server_setting_in_the_query_is_refused_pointing_to_options(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SHARED_DATABASE_URL", "postgresql://atriz@db/atriz_shared?search_path=x")
    with pytest.raises(ConfigurationError, match=r"no parameter 'search_path'.*options"):
        database_url(CORE)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://atriz:p%40ss%2Fw%3Fo%23rd@db.internal:5432/atriz_shared",
        "postgres://atriz@[::1]:5432/atriz_shared?sslmode=verify-full&application_name=core",
        "postgresql://atriz@db1:5432,db2:5433/atriz_shared?target_session_attrs=read-write",
        "postgresql://atriz@/atriz_shared?host=%2Fvar%2Frun%2Fpostgresql&port=5432",
        "postgresql:///atriz_shared?host=/run/postgresql&user=atriz&password=p%40ss",
    ],
    ids=["encoded password", "IPv6 and parameters", "two hosts", "socket folder", "in query"],
)
def test_the_urls_libpq_reads_as_written_are_accepted(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("SHARED_DATABASE_URL", url)
    assert database_url(CORE) == url
    assert "p@ss" not in describe_url(url)


def test_a_url_that_is_not_postgresql_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHARED_DATABASE_URL", "mysql://root@localhost/atriz_shared")
    with pytest.raises(ConfigurationError, match="SHARED_DATABASE_URL must be a postgresql"):
        database_url(CORE)
